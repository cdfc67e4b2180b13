"""The dashboard's aggregates, counted on SQLite and PostgreSQL from stored rows."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.engine import Engine

from hub.storage import stats
from hub.storage.devices import decommission, enrol
from hub.storage.ingest import count_refusal, store_batch
from hub.storage.lists import store_trust_list
from hub.storage.presence import record_state
from protocol.messages import DeviceState, StateMessage
from protocol.topics import Stream
from tests.hub.storage.support import T0, public_key, scan

EVENTS = Stream.EVENTS
H = stats.HOUR_S
HOUR0 = stats.hour_of(T0)


def _fleet(engine: Engine) -> None:
    enrol(engine, "m-1", public_key(), profile="scanner", site="Metro", grid_cell="A1", now=T0)
    enrol(engine, "m-2", public_key(), profile="scanner", site="Metro", grid_cell="A2", now=T0)
    enrol(engine, "o-1", public_key(), profile="handheld", site="Office", grid_cell="B1", now=T0)
    enrol(engine, "x-1", public_key(), profile="camera", now=T0)
    enrol(engine, "p-1", public_key(), profile="scanner", site="Metro", now=T0, approved=False)


def _events(engine: Engine) -> None:
    store_batch(engine, "m-1", EVENTS, b"m1", [
        (1, scan(at=HOUR0 + 10)),
        (2, scan(at=HOUR0 + 20, decision="deny", reason="revoked")),
        (3, scan(at=HOUR0 + H + 5)),
        (4, scan(at=HOUR0 - 3 * H, decision="check", reason="lists_stale")),
    ], now=T0)  # fmt: skip
    store_batch(engine, "m-2", EVENTS, b"m2", [(1, scan(at=HOUR0 + 30, decision="invalid", reason="bad_base45"))],
                now=T0)  # fmt: skip
    store_batch(engine, "o-1", EVENTS, b"o1", [(1, scan(at=HOUR0 + H + 50, decision="check", reason="yellow"))],
                now=T0)  # fmt: skip


def test_decision_counts_in_a_window_by_site_and_all(hub_engine: Engine) -> None:
    _fleet(hub_engine)
    _events(hub_engine)
    two_hours = stats.Window(HOUR0, HOUR0 + 2 * H)
    assert stats.decision_counts(hub_engine, two_hours).as_dict() == {"pass": 2, "check": 1, "deny": 1, "invalid": 1}
    assert stats.decision_counts(hub_engine, two_hours, site="Office").as_dict() == {
        "pass": 0, "check": 1, "deny": 0, "invalid": 0,
    }  # fmt: skip
    by_site = stats.decision_counts_by_site(hub_engine, two_hours)
    assert list(by_site) == ["Metro", "Office"]
    assert by_site["Metro"].total == 4
    assert by_site["Metro"]["deny"] == 1
    first_hour = stats.Window(HOUR0, HOUR0 + H)  # half-open: the event at HOUR0 + H + 5 is outside
    assert stats.decision_counts(hub_engine, first_hour).total == 3
    assert stats.decision_counts(hub_engine, stats.Window(HOUR0 + 10, HOUR0 + 10)).total == 0


def test_hourly_counts_per_site_hour_and_decision(hub_engine: Engine) -> None:
    _fleet(hub_engine)
    _events(hub_engine)
    rows = stats.hourly_counts(hub_engine, stats.Window(HOUR0 - 4 * H, HOUR0 + 2 * H))
    assert [(r.site, r.hour - HOUR0, r.decision, r.count) for r in rows] == [
        ("Metro", -3 * H, "check", 1),
        ("Metro", 0, "deny", 1),
        ("Metro", 0, "invalid", 1),
        ("Metro", 0, "pass", 1),
        ("Metro", H, "pass", 1),
        ("Office", H, "check", 1),
    ]
    only = stats.hourly_counts(hub_engine, stats.Window(HOUR0, HOUR0 + 2 * H), site="Office")
    assert [(r.site, r.count) for r in only] == [("Office", 1)]


def test_device_counts_and_recent_decisions_carry_no_pass_data(hub_engine: Engine) -> None:
    _fleet(hub_engine)
    _events(hub_engine)
    counts = stats.device_decision_counts(hub_engine, "m-1", stats.Window(HOUR0, HOUR0 + 2 * H))
    assert counts.as_dict() == {"pass": 2, "check": 0, "deny": 1, "invalid": 0}
    recent = stats.recent_decisions(hub_engine, "m-1", limit=2)
    assert [(r.seq, r.decision, r.reason) for r in recent] == [(4, "check", "lists_stale"), (3, "pass", "ok")]
    assert not hasattr(recent[0], "rid")
    assert not hasattr(recent[0], "iss")
    with pytest.raises(stats.StatsError):
        stats.recent_decisions(hub_engine, "m-1", limit=0)


def _birth(device: str, at: float, lists: dict[str, object] | None = None, fw: str = "1.2.0") -> StateMessage:
    info: dict[str, object] = {"fw": fw, "backlog": {"events": 3}}
    if lists is not None:
        info["lists"] = lists
    return StateMessage(device, DeviceState.ONLINE, bytes(16), at, info)


def test_fleet_presence_counts_and_firmware(hub_engine: Engine) -> None:
    _fleet(hub_engine)
    record_state(hub_engine, _birth("m-1", T0), now=T0)
    record_state(hub_engine, StateMessage("m-2", DeviceState.OFFLINE, bytes(16), T0), now=T0)
    record_state(hub_engine, _birth("o-1", T0, fw="1.1.0"), now=T0)
    decommission(hub_engine, "o-1", now=T0 + 1)
    entries = stats.fleet(hub_engine)
    assert [(e.site, e.grid_cell, e.device_id) for e in entries] == [
        ("", "", "x-1"), ("Metro", "", "p-1"), ("Metro", "A1", "m-1"), ("Metro", "A2", "m-2"), ("Office", "B1", "o-1"),
    ]  # fmt: skip
    keys = {e.device_id: stats.presence_key(e) for e in entries}
    assert keys == {"x-1": "unknown", "p-1": "pending", "m-1": "online", "m-2": "offline", "o-1": "decommissioned"}
    assert stats.presence_counts(hub_engine) == {
        "online": 1, "offline": 1, "stopped": 0, "unknown": 1, "decommissioned": 1, "pending": 1,
    }  # fmt: skip
    assert stats.firmware_counts(hub_engine) == {"": 3, "1.2.0": 1}
    assert [e.device_id for e in stats.fleet(hub_engine, site="Metro")] == ["p-1", "m-1", "m-2"]
    one = stats.fleet_entry(hub_engine, "m-1")
    assert one is not None
    assert one.backlog == {"events": 3}
    assert one.firmware == "1.2.0"
    assert stats.fleet_entry(hub_engine, "nope") is None
    assert stats.sites(hub_engine) == ["", "Metro", "Office"]


def test_device_lists_and_staleness(hub_engine: Engine) -> None:
    _fleet(hub_engine)
    store_trust_list(hub_engine, b"trust-3", seq=3, ts=1, now=T0 + 100)
    store_trust_list(hub_engine, b"trust-2", seq=2, ts=1, now=T0 + 50)
    record_state(hub_engine, _birth("m-1", T0, {"trust": 3, "revocations": {"CN-SH": 7}}), now=T0)
    record_state(hub_engine, _birth("m-2", T0, {"trust": 2, "revocations": {"CN-SH": None}}), now=T0)
    current, rows = stats.device_lists(hub_engine)
    assert [(v.kind.value, v.list_id, v.seq, v.received_at) for v in current] == [("trust", "trust", 3, T0 + 100)]
    by_id = {row.device_id: row for row in rows}
    assert by_id["m-1"].stale == ()
    assert by_id["m-1"].revocations == {"CN-SH": 7}
    assert by_id["m-2"].stale == ("trust",)
    assert by_id["x-1"].stale == ("trust",)  # never said what it holds
    assert by_id["x-1"].trust is None


def test_stats_on_an_empty_hub(hub_engine: Engine) -> None:
    window = stats.Window.hours(24, now=T0)
    assert stats.decision_counts(hub_engine, window).as_dict() == dict.fromkeys(stats.DECISIONS, 0)
    assert stats.hourly_counts(hub_engine, window) == []
    assert stats.fleet(hub_engine) == []
    assert stats.device_lists(hub_engine) == ([], [])
    assert sum(stats.presence_counts(hub_engine).values()) == 0


def test_window_bounds() -> None:
    window = stats.Window.hours(24, now=HOUR0 + 5)
    assert (window.since, window.until) == (HOUR0 - 23 * H, HOUR0 + H)
    assert stats.Window.last(H, now=T0) == stats.Window(T0 - H, T0)
    for since, until in ((T0, T0 - 1), (math.nan, T0), (T0, math.inf), (-1.0, T0), (T0 - 40 * 24 * H, T0)):
        with pytest.raises(stats.StatsError):
            stats.Window(since, until)
    for hours in (0, 10_000):
        with pytest.raises(stats.StatsError):
            stats.Window.hours(hours, now=T0)


_DETAIL = st.one_of(st.none(), st.integers(), st.text(max_size=8), st.booleans())
_LISTS = st.dictionaries(st.text(max_size=8), st.one_of(_DETAIL, st.dictionaries(st.text(max_size=4), _DETAIL)))


@given(st.one_of(st.none(), _LISTS))
def test_held_lists_never_fails_on_what_a_birth_carries(lists: dict[str, object] | None) -> None:
    trust, revocations = stats.held_lists(lists)
    assert trust is None or (isinstance(trust, int) and not isinstance(trust, bool))
    assert all(v is None or (isinstance(v, int) and not isinstance(v, bool)) for v in revocations.values())


def test_fleet_filters_pages_and_presence_keys(hub_engine: Engine) -> None:
    _fleet(hub_engine)
    record_state(hub_engine, _birth("m-1", T0), now=T0)
    everything = [e.device_id for e in stats.fleet(hub_engine)]
    pages = [e.device_id for offset in (0, 2, 4) for e in stats.fleet(hub_engine, limit=2, offset=offset)]
    assert pages == everything
    assert stats.fleet_size(hub_engine) == 5
    assert [e.device_id for e in stats.fleet(hub_engine, state="online")] == ["m-1"]
    assert stats.fleet_size(hub_engine, site="Metro", state="pending") == 1
    assert [e.device_id for e in stats.fleet(hub_engine, state="unknown")] == ["x-1", "m-2", "o-1"]
    light = stats.fleet(hub_engine, details=False)
    assert all(e.backlog is None and e.lists is None for e in light)
    assert stats.presence_keys(hub_engine) == {
        "m-1": "online", "m-2": "unknown", "o-1": "unknown", "x-1": "unknown", "p-1": "pending",
    }  # fmt: skip


def test_refusals_of_one_device(hub_engine: Engine) -> None:
    _fleet(hub_engine)
    count_refusal(hub_engine, "unknown_device", "m-1", now=T0)
    count_refusal(hub_engine, "unknown_device", "m-1", now=T0 + 1)
    count_refusal(hub_engine, "bad_signature", "m-1", now=T0)
    count_refusal(hub_engine, "bad_topic", None, now=T0)
    assert stats.device_refusals(hub_engine, "m-1") == {"bad_signature": 1, "unknown_device": 2}
    assert stats.device_refusals(hub_engine, "m-2") == {}
