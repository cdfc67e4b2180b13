"""The terminal store: sequences never repeat, acks only move forward, retention prunes only acknowledged rows,
and a full disk is counted instead of crashing the scan path."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlite_utils import Database

from device.store import DeviceStore, Retention, ScanEvent, open_database
from protocol.topics import Stream


def event(at: float = 1_800_000_000.0, decision: str = "pass", reason: str = "ok") -> ScanEvent:
    return ScanEvent(at=at, time_source="ntp", decision=decision, reason=reason, kind="GP1", iss="CN-ZJ-HZ",
                     status="green", rid="ab" * 16, latency_ms=12.5)  # fmt: skip


@pytest.fixture
def fresh_db() -> Database:
    return Database(memory=True)


def test_events_are_numbered_from_one_and_read_back(fresh_db: Database) -> None:
    store = DeviceStore(fresh_db)
    boot = store.start_boot()
    seqs = [store.record_event(boot, event(at=1_800_000_000.0 + i)) for i in range(3)]
    assert seqs == [1, 2, 3]
    stored = store.unacked_events()
    assert [s.seq for s in stored] == [1, 2, 3]
    assert stored[0].event == event()
    assert stored[0].boot_id == boot
    assert store.last_event() is not None and store.last_event().seq == 3  # type: ignore[union-attr]


def test_the_store_never_holds_the_pass_text_or_holder(fresh_db: Database) -> None:
    DeviceStore(fresh_db)
    columns = {c.name for c in fresh_db["events"].columns}
    assert not columns & {"text", "qr", "hid", "nm", "name", "holder"}


def test_sequences_survive_reopening_and_never_repeat(tmp_path: Path) -> None:
    path = tmp_path / "device.db"
    first = DeviceStore(open_database(path))
    boot = first.start_boot()
    assert [first.record_event(boot, event()) for _ in range(5)] == [1, 2, 3, 4, 5]
    first.ack(Stream.EVENTS, 5)
    first.prune(Retention(max_rows=1, max_bytes=2**30, max_age_s=10**9), now=1_900_000_000.0)
    first.db.close()
    second = DeviceStore(open_database(path))
    boot2 = second.start_boot()
    assert boot2 != boot
    assert second.record_event(boot2, event()) == 6
    assert second.get_meta("boot_count") == "2"


def test_acks_only_move_forward_and_never_past_what_exists(fresh_db: Database) -> None:
    store = DeviceStore(fresh_db)
    boot = store.start_boot()
    for _ in range(4):
        store.record_event(boot, event())
    store.ack(Stream.EVENTS, 3)
    store.ack(Stream.EVENTS, 1)
    assert store.acked_upto(Stream.EVENTS) == 3
    store.ack(Stream.EVENTS, 99)
    assert store.acked_upto(Stream.EVENTS) == 4
    assert store.backlog(Stream.EVENTS) == 0


def test_retention_prunes_only_acknowledged_rows_and_reports_pressure(fresh_db: Database) -> None:
    store = DeviceStore(fresh_db)
    boot = store.start_boot()
    for i in range(10):
        store.record_event(boot, event(at=float(i)))
    store.ack(Stream.EVENTS, 4)
    result = store.prune(Retention(max_rows=3, max_bytes=2**30, max_age_s=10**12), now=100.0)
    assert result.removed == 4
    assert result.pressure  # six unacknowledged rows are over a three-row budget, and stay
    assert [s.seq for s in store.events()] == [5, 6, 7, 8, 9, 10]
    store.ack(Stream.EVENTS, 10)
    result = store.prune(Retention(max_rows=3, max_bytes=2**30, max_age_s=10**12), now=100.0)
    assert (result.removed, result.pressure) == (3, False)


def test_retention_by_age(fresh_db: Database) -> None:
    store = DeviceStore(fresh_db)
    boot = store.start_boot()
    for at in (10.0, 20.0, 30.0):
        store.record_event(boot, event(at=at))
    store.ack(Stream.EVENTS, 3)
    assert store.prune(Retention(max_rows=1000, max_bytes=2**30, max_age_s=15.0), now=40.0).removed == 2


def test_a_full_disk_is_counted_and_nothing_stored_is_lost(tmp_path: Path) -> None:
    store = DeviceStore(open_database(tmp_path / "device.db"))
    boot = store.start_boot()
    store.record_event(boot, event())
    pages = store.db.execute("PRAGMA page_count").fetchone()[0]
    store.db.execute(f"PRAGMA max_page_count = {pages}")  # the database may not grow: as good as a full disk
    results = [store.record_event(boot, ScanEvent(at=1.0, time_source="ntp", decision="pass", reason="x" * 4000))
               for _ in range(20)]  # fmt: skip
    assert None in results
    assert store.unstored == results.count(None)
    assert 1 in [s.seq for s in store.events()]
    store.db.execute("PRAGMA max_page_count = 1000000")
    assert store.record_event(boot, event()) is not None


def test_other_database_errors_are_not_swallowed(fresh_db: Database) -> None:
    store = DeviceStore(fresh_db)
    fresh_db.execute("DROP TABLE events")
    with pytest.raises(sqlite3.OperationalError):
        store.record_event("boot", event())


@settings(max_examples=30)
@given(st.lists(st.sampled_from(["event", "ack", "prune", "reopen"]), max_size=30))
def test_model_sequences_unique_and_acked_rows_only_pruned(
    tmp_path_factory: pytest.TempPathFactory, ops: list[str]
) -> None:
    path = tmp_path_factory.mktemp("store") / "device.db"
    store = DeviceStore(open_database(path))
    boot = store.start_boot()
    issued: list[int] = []
    for op in ops:
        if op == "event":
            seq = store.record_event(boot, event())
            assert seq is not None
            assert seq not in issued
            issued.append(seq)
        elif op == "ack" and issued:
            store.ack(Stream.EVENTS, issued[len(issued) // 2])
        elif op == "prune":
            store.prune(Retention(max_rows=1000, max_bytes=2**30, max_age_s=0.0), now=2_000_000_000.0)
        elif op == "reopen":
            store.db.close()
            store = DeviceStore(open_database(path))
    held = {s.seq for s in store.events()}
    acked = store.acked_upto(Stream.EVENTS)
    assert {s for s in issued if s > acked} <= held
    assert issued == sorted(issued)
    store.db.close()
