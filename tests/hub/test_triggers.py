"""Snapshot triggers: a fresh forged or revoked decision asks the cameras of the same site for a snapshot, through
the command path (stored, audited, published); stale backlog, other reasons and other sites do not; a site is
triggered at most once per interval."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Engine

from hub.operations.commands import list_commands
from hub.storage import devices
from hub.storage.engine import create_engine
from hub.storage.migrate import upgrade
from hub.triggers import SnapshotTriggers
from protocol import topics
from protocol.messages import parse_command
from protocol.records import ScanRecord
from tests.hub.storage.support import public_key

T0 = 1_800_000_000.0


class Publisher:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes]] = []

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> bool:
        assert not retain
        self.sent.append((topic, payload))
        return True


@pytest.fixture
def engine(hub_db_url: str) -> Iterator[Engine]:
    engine = create_engine(hub_db_url)
    upgrade(engine)
    for device_id, profile, site in (
        ("scanner-01", "scanner", "SH-PD-1"),
        ("cam-01", "camera", "SH-PD-1"),
        ("cam-02", "camera", "SH-PD-2"),
    ):
        devices.enrol(engine, device_id, public_key(), profile=profile, site=site, now=T0)
    yield engine
    engine.dispose()


def record(reason: str, at: float) -> ScanRecord:
    return ScanRecord(boot="ab" * 16, at=at, time_source="ntp", decision="deny", reason=reason)


def test_a_fresh_revoked_pass_asks_the_sites_camera(engine: Engine) -> None:
    now = [T0]
    publisher = Publisher()
    triggers = SnapshotTriggers(engine, lambda: publisher, lambda: now[0])
    assert triggers.after_events("scanner-01", [record("ok", T0), record("revoked", T0 - 5)]) == 1
    [(topic, payload)] = publisher.sent
    assert topic == topics.down("cam-01", topics.Down.CMD)
    command = parse_command(payload)
    assert command.command.value == "snapshot_now"
    assert command.args == {"trigger": "revoked", "decision": "deny", "from": "scanner-01"}
    [stored] = list_commands(engine, device_id="cam-01")
    assert (stored.id, stored.created_by) == (command.id, "hub:trigger")
    assert list_commands(engine, device_id="cam-02") == []

    assert triggers.after_events("scanner-01", [record("bad_signature", T0)]) == 0  # within the interval
    now[0] = T0 + 31
    assert triggers.after_events("scanner-01", [record("bad_signature", now[0])]) == 1
    assert triggers.sent == 2


def test_stale_backlog_and_other_reasons_do_not_trigger(engine: Engine) -> None:
    publisher = Publisher()
    triggers = SnapshotTriggers(engine, lambda: publisher, lambda: T0)
    assert triggers.after_events("scanner-01", [record("revoked", T0 - 3600)]) == 0
    assert triggers.after_events("scanner-01", [record("expired", T0), record("status_red", T0)]) == 0
    assert triggers.after_events("cam-02", [record("revoked", T0)]) == 1  # the camera of its own site
    assert triggers.after_events("nobody", [record("revoked", T0)]) == 0
    assert [topic for topic, _ in publisher.sent] == [topics.down("cam-02", topics.Down.CMD)]
