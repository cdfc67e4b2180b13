"""The operators' views and the summary counts, counted from the stored rows."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from hub.storage import queries
from hub.storage.devices import DeviceStatus, decommission, enrol
from hub.storage.ingest import store_batch
from hub.storage.presence import record_state
from protocol.messages import DeviceState, StateMessage
from protocol.topics import Stream
from tests.hub.storage.support import T0, public_key, scan

EVENTS = Stream.EVENTS


def test_counts_by_decision_device_and_distinct_key(hub_engine: Engine) -> None:
    for device in ("a-1", "b-1", "c-1"):
        enrol(hub_engine, device, public_key(), profile="scanner", site="Metro 2", now=T0)
    batch_a = [
        (1, scan()),
        (2, scan(decision="deny", reason="revoked")),
        (3, scan(decision="check", reason="lists_stale")),
    ]
    store_batch(hub_engine, "a-1", EVENTS, b"a", batch_a, now=T0)
    store_batch(hub_engine, "a-1", EVENTS, b"a2", batch_a[1:], now=T0)  # duplicates: stored once
    store_batch(hub_engine, "b-1", EVENTS, b"b", [(1, scan(decision="invalid", reason="bad_base45"))], now=T0)
    counts = queries.event_counts(hub_engine)
    assert (counts.rows, counts.distinct, counts.doubled) == (4, 4, 0)
    assert queries.events_per_decision(hub_engine) == {"check": 1, "deny": 1, "invalid": 1, "pass": 1}
    assert queries.events_per_device(hub_engine) == {"a-1": 3, "b-1": 1}
    states = queries.stream_states(hub_engine)
    assert [(s.device_id, s.contiguous_upto, s.max_seq) for s in states] == [("a-1", 3, 3), ("b-1", 1, 1)]
    assert [s.device_id for s in queries.stream_states(hub_engine, "b-1")] == ["b-1"]


def test_devices_with_presence(hub_engine: Engine) -> None:
    for device in ("a-1", "b-1", "c-1"):
        enrol(hub_engine, device, public_key(), profile="scanner", site="Metro 2", now=T0)
    record_state(hub_engine, StateMessage("a-1", DeviceState.ONLINE, bytes(16), T0, {"fw": "1.0"}), now=T0)
    store_batch(hub_engine, "b-1", EVENTS, b"b", [(1, scan(at=T0 - 5))], now=T0)
    decommission(hub_engine, "c-1", now=T0)
    views = queries.devices_with_presence(hub_engine)
    assert [(v.device_id, v.status, v.site) for v in views] == [
        ("a-1", DeviceStatus.ENROLLED, "Metro 2"),
        ("b-1", DeviceStatus.ENROLLED, "Metro 2"),
        ("c-1", DeviceStatus.DECOMMISSIONED, "Metro 2"),
    ]
    a, b, c = (v.presence for v in views)
    assert a is not None and (a.connected, a.firmware, a.state) == (True, "1.0", DeviceState.ONLINE)
    assert b is not None and (b.connected, b.state, b.data_currency_at) == (False, None, T0 - 5)
    assert c is None
