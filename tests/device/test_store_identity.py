"""The store's identity (a random id made with it, the tag every boot id starts with) and renumbering the records a
replaced store holds above what the hub already has of the store it replaced."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlite_utils import Database

from device.store import DeviceStore, IncidentDraft, ScanEvent, SnapshotMeta, StoreError, open_database
from protocol.identity import check_store_id
from protocol.topics import Stream

T0 = 1_800_000_000.0


def event(i: int) -> ScanEvent:
    return ScanEvent(at=T0 + i, time_source="ntp", decision="pass", reason="ok", rid=f"{i:032x}")


def jpeg(tag: int) -> bytes:
    return b"\xff\xd8\xff\xe0" + bytes([tag % 256]) * 60


def test_a_store_gets_one_random_id_that_survives_reopening(tmp_path: Path) -> None:
    first = DeviceStore(open_database(tmp_path / "device.db"))
    store_id = check_store_id(first.store_id())
    first.db.close()
    again = DeviceStore(open_database(tmp_path / "device.db"))
    assert again.store_id() == store_id
    assert DeviceStore(Database(memory=True)).store_id() != store_id  # another store, another id


def test_every_boot_id_starts_with_the_store_tag() -> None:
    store = DeviceStore(Database(memory=True))
    boots = {store.start_boot() for _ in range(5)}
    assert len(boots) == 5
    assert all(len(boot) == 32 and boot.startswith(store.store_id()[:8]) for boot in boots)


def test_renumbering_moves_every_unacknowledged_record_above_the_bases_in_order() -> None:
    store = DeviceStore(Database(memory=True))
    boot = store.start_boot()
    for i in range(5):
        store.record_event(boot, event(i))
    store.add_incident(IncidentDraft(T0, "ntp", "blocked_exit", "first"), [jpeg(1)])
    store.add_incident(IncidentDraft(T0, "ntp", "blocked_exit", "second"), [jpeg(2), jpeg(3)])
    store.add_snapshot(SnapshotMeta(T0, "ntp", "gate", "periodic", 8, 8), jpeg(4))

    shifts = store.renumber({Stream.EVENTS: 100, Stream.INCIDENTS: 7, Stream.SNAPSHOTS: 0})

    assert shifts == {Stream.EVENTS: 100, Stream.INCIDENTS: 7, Stream.SNAPSHOTS: 0}
    assert [(seq, fields["rid"]) for seq, fields in store.unacked_records(Stream.EVENTS)] == [
        (101 + i, f"{i:032x}") for i in range(5)
    ]
    incidents = store.incidents()
    assert [(seq, record.note, len(record.photos)) for seq, record in incidents] == [(8, "first", 1), (9, "second", 2)]
    assert [seq for seq, _ in store.snapshots()] == [1]
    counts = store.counts()
    assert counts["events"] == {"next_seq": 106, "acked_upto": 100, "backlog": 5}
    assert counts["incidents"] == {"next_seq": 10, "acked_upto": 7, "backlog": 2}
    assert store.record_event(boot, event(9)) == 106  # numbering goes on above them


def test_renumbering_again_moves_nothing_and_acknowledged_records_stay() -> None:
    store = DeviceStore(Database(memory=True))
    boot = store.start_boot()
    for i in range(4):
        store.record_event(boot, event(i))
    store.ack(Stream.EVENTS, 2)
    assert store.renumber({Stream.EVENTS: 10}) == {Stream.EVENTS: 8}
    assert [row.seq for row in store.events()] == [1, 2, 11, 12]
    assert store.renumber({Stream.EVENTS: 10}) == {Stream.EVENTS: 0}
    assert [row.seq for row in store.events()] == [1, 2, 11, 12]


def test_a_base_below_what_is_acknowledged_is_refused_and_changes_nothing() -> None:
    store = DeviceStore(Database(memory=True))
    boot = store.start_boot()
    for i in range(3):
        store.record_event(boot, event(i))
    store.ack(Stream.EVENTS, 3)
    with pytest.raises(StoreError, match="acknowledged"):
        store.renumber({Stream.EVENTS: 1})
    assert [row.seq for row in store.events()] == [1, 2, 3]


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 30), st.integers(0, 30), st.integers(0, 10**12))
def test_renumbering_keeps_every_record_once_and_in_order(count: int, acked: int, extra: int) -> None:
    store = DeviceStore(Database(memory=True))
    boot = store.start_boot()
    for i in range(count):
        store.record_event(boot, event(i))
    store.ack(Stream.EVENTS, acked)
    held = store.acked_upto(Stream.EVENTS)
    base = held + extra
    store.renumber({Stream.EVENTS: base})
    rows = list(store.events())
    assert [row.event.rid for row in rows] == [f"{i:032x}" for i in range(count)]
    assert [row.seq for row in rows] == list(range(1, held + 1)) + list(range(base + 1, base + 1 + count - held))
