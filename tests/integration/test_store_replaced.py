"""A terminal whose store file was deleted (it kept its key) starts numbering at 1 again: the hub refuses its batches
(never acking them as duplicates of what it holds) and shows the operator; once the operator resolves it, the
terminal renumbers its records above the hub's and every new event arrives exactly once."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from device.store import DeviceStore, ScanEvent, open_database
from hub.accounts.roles import Role
from hub.operations.audit import Actor, entries
from hub.operations.commands import get_command
from hub.operations.identity import resolve_store
from hub.storage.identity import STORE_REPLACED, StoreState, store_conflicts, stores
from hub.storage.ingest import refusal_counts
from hub.storage.models import Event
from protocol.topics import Stream
from tests.integration.rig import Children, InProcessHub, Site, Terminal, exactly_once, hub_seqs, wait_for

DEVICE = "scanner-01"
OPERATOR = Actor("alice", Role.OPERATOR, "local")


@pytest.fixture
def hub(site: Site) -> Iterator[InProcessHub]:
    """One hub worker in the test process."""
    worker = InProcessHub(site).start()
    try:
        yield worker
    finally:
        worker.stop()


def fill(terminal: Terminal, count: int, tag: str) -> str:
    """``count`` events in the terminal's store (made if absent) before it runs; returns the store id."""
    store = DeviceStore(open_database(terminal.database))
    try:
        boot = store.start_boot()
        for i in range(count):
            event = ScanEvent(at=time.time(), time_source="ntp", decision="pass", reason="ok", rid=f"{tag}{i:030x}")
            assert store.record_event(boot, event) is not None
        return store.store_id()
    finally:
        store.db.close()


def hub_rids(site: Site) -> list[str | None]:
    with site.engine.connect() as conn:
        return list(
            conn.execute(
                sa.select(Event.rid).where(Event.device_id == DEVICE, Event.stream == "events").order_by(Event.seq)
            ).scalars()
        )


def refused(site: Site, reason: str) -> int:
    return sum(row.count for row in refusal_counts(site.engine) if row.device_id == DEVICE and row.reason == reason)


def test_a_deleted_store_loses_nothing(site: Site, hub: InProcessHub, children: Children, tmp_path: Path) -> None:
    terminal = Terminal(site, site.enrol(DEVICE), tmp_path / "terminals", children,
                        {"batch_records": 20, "ack_timeout_s": 2.0})  # fmt: skip
    old_store = fill(terminal, 30, "aa")
    terminal.start()
    wait_for(lambda: terminal.counts().acked_upto == 30, f"the first store drained\n{terminal.log()}")
    terminal.stop()

    for name in ("device.db", "device.db-wal", "device.db-shm"):  # the SD card's file is gone; the key stays
        (terminal.data_dir / name).unlink(missing_ok=True)
    new_store = fill(terminal, 20, "bb")  # numbered 1..20 again
    assert new_store != old_store
    terminal.start()

    wait_for(lambda: refused(site, STORE_REPLACED) >= 2, f"the new store's batches refused\n{terminal.log()}")
    [conflict] = store_conflicts(site.engine)
    assert (conflict.device_id, conflict.store_id, conflict.held) == (DEVICE, new_store, {"events": 30})
    assert conflict.refused >= 2
    exactly_once(site.engine, DEVICE, 30)  # nothing of the new store taken, nothing acked
    assert hub_rids(site) == [f"aa{i:030x}" for i in range(30)]
    assert terminal.counts().acked_upto == 0

    resolution = resolve_store(site.engine, OPERATOR, DEVICE, now=time.time(), publisher=hub.link)
    assert resolution.command.published
    assert resolution.resolution.bases == {Stream.EVENTS: 30}

    wait_for(lambda: terminal.counts().acked_upto == 50 and terminal.counts().backlog == 0,
             f"the renumbered records acknowledged\n{terminal.log()}")  # fmt: skip
    exactly_once(site.engine, DEVICE, 50)
    assert hub_rids(site) == [f"aa{i:030x}" for i in range(30)] + [f"bb{i:030x}" for i in range(20)]
    assert hub_seqs(site.engine, DEVICE)[-1] == 50
    answered = get_command(site.engine, resolution.command.id)
    assert answered.result_ok is True, answered.result_detail
    assert store_conflicts(site.engine) == []
    states = {store.store_id: store.state for store in stores(site.engine, DEVICE)}
    assert states == {old_store: StoreState.RETIRED, new_store: StoreState.CURRENT}
    assert len(entries(site.engine, action="device.store_resolved")) == 1
    terminal.stop()
