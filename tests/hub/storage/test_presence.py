"""Presence and its ordering rule: the newest boot wins, a will ends a connection, a clean stop says more than a
will, and workers that see the same messages at different paces end on the device's last word."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine

from hub.storage import presence
from hub.storage.errors import UnknownDeviceError
from hub.storage.ingest import store_batch
from hub.storage.presence import get_presence, record_state
from protocol.messages import DeviceState, StateMessage
from protocol.topics import Stream
from tests.hub.storage.support import DEVICE, T0, cose, enrol, records

ONLINE, OFFLINE, STOPPED = DeviceState.ONLINE, DeviceState.OFFLINE, DeviceState.STOPPED
BOOT_1, BOOT_2 = bytes(16), bytes(range(16))
INFO = {
    "fw": "0.3.1", "profile": "scanner", "site": "Metro 2", "grid_cell": "A7",
    "backlog": {"events": 12, "incidents": 0, "snapshots": 3},
    "lists": {"trust": 4, "revocations": {"district-1": 17}, "current_at": T0},
    "clock": {"source": "ntp", "last_trusted": T0},
    "storage": {"db_bytes": 1 << 20},
}  # fmt: skip


def state(kind: DeviceState, boot: bytes = BOOT_1, at: float = T0, info: dict[str, Any] | None = None) -> StateMessage:
    return StateMessage(DEVICE, kind, boot, at, info or {})


def held(engine: Engine) -> tuple[DeviceState | None, str | None, bool]:
    view = get_presence(engine, DEVICE)
    assert view is not None
    return view.state, view.boot_id, view.connected


def test_a_birth_records_its_details_and_the_will_ends_the_connection(hub_engine: Engine) -> None:
    enrol(hub_engine)
    will = state(OFFLINE, at=T0)  # written at start, published by the broker when the connection is lost
    assert record_state(hub_engine, state(ONLINE, at=T0 + 1, info=INFO), now=T0 + 2)
    view = get_presence(hub_engine, DEVICE)
    assert view is not None
    assert (view.state, view.connected, view.boot_id, view.firmware) == (ONLINE, True, BOOT_1.hex(), "0.3.1")
    assert view.backlog == {"events": 12, "incidents": 0, "snapshots": 3}
    assert view.lists == INFO["lists"]
    assert view.clock == INFO["clock"]
    assert (view.last_activity_at, view.updated_at) == (T0 + 2, T0 + 2)
    assert record_state(hub_engine, will, now=T0 + 30)
    after = get_presence(hub_engine, DEVICE)
    assert after is not None
    assert (after.state, after.connected, after.firmware) == (OFFLINE, False, "0.3.1")
    assert after.last_activity_at == T0 + 2  # the broker spoke, not the device
    assert record_state(hub_engine, state(ONLINE, at=T0 + 40, info=INFO), now=T0 + 41)  # reconnected
    assert held(hub_engine) == (ONLINE, BOOT_1.hex(), True)


def test_an_older_boot_never_overrides_a_newer_one(hub_engine: Engine) -> None:
    enrol(hub_engine)
    record_state(hub_engine, state(ONLINE, BOOT_1, at=T0 + 500), now=T0)
    # The terminal rebooted without a battery-backed clock: its new boot reads an earlier time.
    assert record_state(hub_engine, state(ONLINE, BOOT_2, at=T0 + 10), now=T0 + 1)
    for late in (
        state(OFFLINE, BOOT_1, at=T0),
        state(STOPPED, BOOT_1, at=T0 + 900),
        state(ONLINE, BOOT_1, at=T0 + 999),
    ):
        assert not record_state(hub_engine, late, now=T0 + 2)
    assert held(hub_engine) == (ONLINE, BOOT_2.hex(), True)


def test_a_clean_stop_says_more_than_the_will(hub_engine: Engine) -> None:
    enrol(hub_engine)
    record_state(hub_engine, state(ONLINE, at=T0 + 1), now=T0)
    assert record_state(hub_engine, state(STOPPED, at=T0 + 100), now=T0 + 100)
    assert not record_state(hub_engine, state(OFFLINE, at=T0), now=T0 + 101)
    assert not record_state(hub_engine, state(ONLINE, at=T0 + 1), now=T0 + 102)  # a birth from before the stop
    assert held(hub_engine) == (STOPPED, BOOT_1.hex(), False)
    assert record_state(hub_engine, state(ONLINE, at=T0 + 200), now=T0 + 200)  # the same run started again


def test_an_older_birth_of_the_same_boot_does_not_replace_the_newer_details(hub_engine: Engine) -> None:
    enrol(hub_engine)
    record_state(hub_engine, state(ONLINE, at=T0 + 20, info={"fw": "new"}), now=T0)
    assert not record_state(hub_engine, state(ONLINE, at=T0 + 10, info={"fw": "old"}), now=T0 + 1)
    view = get_presence(hub_engine, DEVICE)
    assert view is not None and view.firmware == "new"
    assert record_state(hub_engine, state(ONLINE, at=T0 + 20, info={"fw": "new"}), now=T0 + 2)  # same again


def test_retained_replays_are_not_activity(hub_engine: Engine) -> None:
    enrol(hub_engine)
    assert record_state(hub_engine, state(ONLINE, at=T0), now=T0 + 1000, retained=True)
    view = get_presence(hub_engine, DEVICE)
    assert view is not None and view.last_activity_at is None and view.connected


def test_malformed_birth_details_are_left_out(hub_engine: Engine) -> None:
    enrol(hub_engine)
    info = {
        "fw": "x" * 65,
        "backlog": {"events": -1, "incidents": True, "snapshots": 2, "photos": 5},
        "lists": {"deep": {"deeper": {"deepest": {"too": 1}}}},
        "clock": {"source": "ntp", "skew": float("nan")},
    }
    record_state(hub_engine, state(ONLINE, info=info), now=T0)
    view = get_presence(hub_engine, DEVICE)
    assert view is not None
    assert (view.firmware, view.backlog, view.lists, view.clock) == (None, {"snapshots": 2}, None, None)
    record_state(hub_engine, state(ONLINE, at=T0 + 1, info={"clock": {"pad": "x" * 2000}}), now=T0)
    view = get_presence(hub_engine, DEVICE)
    assert view is not None and view.clock is None


def test_state_of_an_unknown_device_is_refused(hub_engine: Engine) -> None:
    with pytest.raises(UnknownDeviceError):
        record_state(hub_engine, state(ONLINE), now=T0)


def test_batches_keep_activity_and_data_currency_beside_the_state(hub_engine: Engine) -> None:
    enrol(hub_engine)
    store_batch(hub_engine, DEVICE, Stream.EVENTS, cose(1), records(1, at=T0), now=T0 + 5)
    view = get_presence(hub_engine, DEVICE)
    assert view is not None
    assert (view.state, view.last_activity_at, view.data_currency_at) == (None, T0 + 5, T0 + 1)
    record_state(hub_engine, state(ONLINE, at=T0), now=T0 + 3)  # a worker with a slower clock
    view = get_presence(hub_engine, DEVICE)
    assert view is not None and view.state is ONLINE and view.last_activity_at == T0 + 5


# --- several workers, one message sequence ------------------------------------------------------------------------


@dataclass(frozen=True)
class Boot:
    connections: int
    clean_stop: bool
    start: float


boots = st.lists(
    st.builds(Boot, st.integers(1, 3), st.booleans(), st.floats(T0 - 1e6, T0 + 1e6)), min_size=1, max_size=3
)


def published(sequence: list[Boot]) -> list[StateMessage]:
    """What a device's state topic carries, in order, over several boots (each with its own clock)."""
    messages = []
    for number, boot in enumerate(sequence):
        boot_id = number.to_bytes(16, "big")
        will = state(OFFLINE, boot_id, at=boot.start)
        for connection in range(boot.connections):
            messages.append(state(ONLINE, boot_id, at=boot.start + 1 + connection))
            if connection < boot.connections - 1:
                messages.append(will)
        messages.append(state(STOPPED, boot_id, at=boot.start + 10) if boot.clean_stop else will)
    return messages


_example = iter(range(1, 10**6))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sequence=boots, data=st.data())
def test_workers_at_different_paces_end_on_the_devices_last_word(
    sqlite_engine: Engine, sequence: list[Boot], data: st.DataObject
) -> None:
    device = enrol(sqlite_engine, f"presence-{next(_example)}")
    messages = [StateMessage(device, m.state, m.boot, m.at, m.info) for m in published(sequence)]
    positions = [0, 0, 0]  # three hub workers, each reading the whole sequence in order
    newest_boot_seen = -1
    while any(p < len(messages) for p in positions):
        worker = data.draw(st.sampled_from([w for w, p in enumerate(positions) if p < len(messages)]))
        message = messages[positions[worker]]
        positions[worker] += 1
        record_state(sqlite_engine, message, now=T0)
        newest_boot_seen = max(newest_boot_seen, int.from_bytes(message.boot, "big"))
        view = get_presence(sqlite_engine, device)
        assert view is not None and view.boot_id == newest_boot_seen.to_bytes(16, "big").hex()
    view = get_presence(sqlite_engine, device)
    assert view is not None
    assert (view.state, view.boot_id) == (messages[-1].state, messages[-1].boot.hex())


def test_the_module_documents_its_rule() -> None:
    assert presence.__doc__ is not None and "Ordering rule" in presence.__doc__
