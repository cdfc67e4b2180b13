"""store_batch: stored once, duplicates acknowledged but not stored, gaps and contiguous progress, one transaction."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from hub.storage import devices, ingest, queries, relay
from hub.storage.errors import DeviceStateError, InvalidValueError, UnknownDeviceError
from hub.storage.ingest import StoreResult, batch_sha256, store_batch
from hub.storage.models import Batch, Event, Presence, RelayOutbox, StreamState
from protocol.records import ScanRecord
from protocol.topics import Stream
from tests.hub.storage.support import DEVICE, T0, cose, enrol, records, scan

EVENTS = Stream.EVENTS


def store(engine: Engine, *seqs: int, tag: str = "", now: float = T0 + 100) -> StoreResult:
    return store_batch(engine, DEVICE, EVENTS, cose(*seqs, tag=tag), records(*seqs), now=now)


def count(engine: Engine, table: Any) -> int:  # noqa: ANN401 - a model class
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def test_a_batch_is_stored_once_and_a_resend_is_acknowledged_again(hub_engine: Engine) -> None:
    enrol(hub_engine)
    first = store(hub_engine, 1, 2, 3)
    assert first == StoreResult(3, 0, 3, [], 3, first.batch_id)
    assert first.batch_id is not None
    again = store(hub_engine, 1, 2, 3)
    assert again == StoreResult(0, 3, 3, [], 3, None)
    assert count(hub_engine, Event) == 3
    assert count(hub_engine, Batch) == 1
    assert count(hub_engine, RelayOutbox) == 1
    with hub_engine.connect() as conn:
        row = conn.execute(sa.select(Event).where(Event.seq == 2)).one()._mapping
    expected = scan(at=T0 + 2)
    assert {key: row[key] for key in expected.fields()} == expected.fields()
    assert row["batch_id"] == first.batch_id
    assert row["received_at"] == T0 + 100


def test_overlapping_batches_store_only_what_is_new(hub_engine: Engine) -> None:
    enrol(hub_engine)
    assert store(hub_engine, 1, 2, 3, 4).stored == 4
    overlap = store(hub_engine, 3, 4, 5, 6)
    assert (overlap.stored, overlap.duplicates, overlap.contiguous_upto) == (2, 2, 6)
    with hub_engine.connect() as conn:
        carriers = dict(conn.execute(sa.select(Event.seq, Event.batch_id)).all())
    assert carriers[3] != carriers[5] == overlap.batch_id  # the first batch to carry a record owns it
    assert queries.event_counts(hub_engine).distinct == 6


def test_out_of_order_batches_leave_gaps_until_they_are_filled(hub_engine: Engine) -> None:
    enrol(hub_engine)
    assert store(hub_engine, 5, 6).missing == [(1, 4)]
    result = store(hub_engine, 1, 2, 9, 12)
    assert (result.contiguous_upto, result.max_seq, result.missing) == (2, 12, [(3, 4), (7, 8), (10, 11)])
    result = store(hub_engine, 3, 4)
    assert (result.contiguous_upto, result.missing) == (6, [(7, 8), (10, 11)])
    result = store(hub_engine, 7, 8, 10, 11)
    assert (result.contiguous_upto, result.missing) == (12, [])
    progress = ingest.stream_progress(hub_engine, DEVICE, EVENTS)
    assert (progress.contiguous_upto, progress.max_seq, progress.last_received_at) == (12, 12, T0 + 100)


def test_missing_ranges_are_bounded_to_the_first_ones(hub_engine: Engine) -> None:
    enrol(hub_engine)
    result = store(hub_engine, *range(2, 80, 2))
    assert result.contiguous_upto == 0
    assert len(result.missing) == ingest.MAX_MISSING_RANGES
    assert result.missing[:3] == [(1, 1), (3, 3), (5, 5)]
    assert ingest.missing_ranges(hub_engine, DEVICE, EVENTS) == result.missing


def test_contiguous_upto_advances_over_many_stored_records_in_chunks(
    hub_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ingest, "WALK_CHUNK", 7)
    enrol(hub_engine)
    assert store(hub_engine, *range(2, 60)).contiguous_upto == 0
    result = store(hub_engine, 1)
    assert (result.contiguous_upto, result.missing) == (59, [])
    store(hub_engine, *range(61, 120, 3))
    result = store(hub_engine, 60)
    assert result.contiguous_upto == 61
    assert result.missing[:2] == [(62, 63), (65, 66)]


def test_a_failure_inside_the_transaction_leaves_nothing_half_written(hub_engine: Engine) -> None:
    enrol(hub_engine)
    store(hub_engine, 1, 2)
    for step in ("INSERT INTO relay_outbox", "UPDATE stream_state", "INSERT INTO presence"):
        with failing_at(hub_engine, step), pytest.raises(RuntimeError, match="injected"):
            store(hub_engine, 3, 4, 5)
        assert count(hub_engine, Event) == 2
        assert count(hub_engine, Batch) == 1
        assert count(hub_engine, RelayOutbox) == 1
        progress = ingest.stream_progress(hub_engine, DEVICE, EVENTS)
        assert (progress.contiguous_upto, progress.max_seq) == (2, 2)
    assert store(hub_engine, 3, 4, 5).stored == 3  # the resend after the crash stores everything


def test_a_record_the_schema_cannot_hold_fails_the_whole_batch(hub_engine: Engine) -> None:
    enrol(hub_engine)
    too_long = ScanRecord(boot="ab" * 16, at=T0, time_source="ntp", decision="pass", reason="ok", iss="x" * 257)
    with pytest.raises(InvalidValueError, match="iss"):
        store_batch(hub_engine, DEVICE, EVENTS, b"x", [*records(1, 2), (3, too_long)], now=T0)
    with pytest.raises(InvalidValueError, match="seq"):
        store_batch(hub_engine, DEVICE, EVENTS, b"x", records(1, 2**63), now=T0)
    with pytest.raises(InvalidValueError, match="ascending"):
        store_batch(hub_engine, DEVICE, EVENTS, b"x", records(2, 1), now=T0)
    with pytest.raises(InvalidValueError, match="1 to"):
        store_batch(hub_engine, DEVICE, EVENTS, b"x", [], now=T0)
    with pytest.raises(InvalidValueError, match="must be IncidentRecord"):
        store_batch(hub_engine, DEVICE, Stream.INCIDENTS, b"x", records(1), now=T0)
    assert count(hub_engine, Event) == 0
    assert store_batch(hub_engine, DEVICE, EVENTS, b"x", records(2**63 - 1), now=T0).max_seq == 2**63 - 1


def test_the_callers_transaction_decides(hub_engine: Engine) -> None:
    enrol(hub_engine)
    with hub_engine.connect() as conn:
        conn.begin()
        assert store_batch(conn, DEVICE, EVENTS, cose(1), records(1), now=T0).stored == 1
        conn.rollback()  # the caller's failure after storing, before its commit
    assert count(hub_engine, Event) == 0
    with hub_engine.connect() as conn:
        assert store_batch(conn, DEVICE, EVENTS, cose(1), records(1), now=T0).stored == 1  # commits its own
    assert count(hub_engine, Event) == 1


def test_a_session_joins_its_transaction(hub_engine: Engine) -> None:
    enrol(hub_engine)
    with Session(hub_engine) as session:
        assert store_batch(session, DEVICE, EVENTS, cose(1), records(1), now=T0).stored == 1
        session.rollback()
        assert store_batch(session, DEVICE, EVENTS, cose(1), records(1), now=T0).stored == 1
        session.commit()
    assert count(hub_engine, Event) == 1


def test_only_enrolled_devices_have_batches_stored(hub_engine: Engine) -> None:
    with pytest.raises(UnknownDeviceError):
        store(hub_engine, 1)
    enrol(hub_engine)
    devices.decommission(hub_engine, DEVICE, now=T0)
    with pytest.raises(DeviceStateError, match="decommissioned"):
        store(hub_engine, 1)
    assert count(hub_engine, StreamState) == 0


def test_the_signed_bytes_are_kept_once_with_their_hash(hub_engine: Engine) -> None:
    enrol(hub_engine)
    data = cose(1, 2)
    result = store_batch(hub_engine, DEVICE, EVENTS, data, records(1, 2), now=T0)
    store_batch(hub_engine, DEVICE, EVENTS, data, records(1, 2), now=T0 + 1)
    with hub_engine.connect() as conn:
        rows = conn.execute(sa.select(Batch.id, Batch.sha256, Batch.cose, Batch.first_seq, Batch.last_seq)).all()
    assert [tuple(row) for row in rows] == [(result.batch_id, batch_sha256(data), data, 1, 2)]


def test_activity_and_data_currency_never_go_back(hub_engine: Engine) -> None:
    enrol(hub_engine)
    store_batch(hub_engine, DEVICE, EVENTS, cose(5), records(5, at=T0), now=T0 + 50)
    store_batch(hub_engine, DEVICE, EVENTS, cose(1), records(1, at=T0), now=T0 + 40)  # an older worker's clock
    with hub_engine.connect() as conn:
        activity, currency = conn.execute(sa.select(Presence.last_activity_at, Presence.data_currency_at)).one()
    assert (activity, currency) == (T0 + 50, T0 + 5)


def test_refusals_are_counted_per_reason_and_device(hub_engine: Engine) -> None:
    enrol(hub_engine)
    for device in (DEVICE, DEVICE, "never-enrolled", None):
        ingest.count_refusal(hub_engine, "bad_signature", device, now=T0)
    ingest.count_refusal(hub_engine, "wrong_topic", DEVICE, now=T0 + 1)
    counts = {(r.device_id, r.reason): r.count for r in ingest.refusal_counts(hub_engine)}
    assert counts == {(None, "bad_signature"): 2, (DEVICE, "bad_signature"): 2, (DEVICE, "wrong_topic"): 1}
    with pytest.raises(InvalidValueError):
        ingest.count_refusal(hub_engine, "Bad Reason", None, now=T0)


def test_a_duplicate_only_batch_is_not_relayed(hub_engine: Engine) -> None:
    enrol(hub_engine)
    store(hub_engine, 1, 2, 3)
    store(hub_engine, 2, 3, tag="resent after reboot")
    due = relay.due_relay_batches(hub_engine, limit=10, now=T0 + 1000)
    assert [(item.first_seq, item.last_seq) for item in due] == [(1, 3)]


@contextmanager
def failing_at(engine: Engine, statement_start: str) -> Iterator[None]:
    """Raise inside the transaction just before a statement starting with ``statement_start`` runs."""

    def fail(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:  # noqa: ANN401
        if statement.lstrip().startswith(statement_start):
            raise RuntimeError(f"injected failure before {statement_start}")

    event.listen(engine, "before_cursor_execute", fail)
    try:
        yield
    finally:
        event.remove(engine, "before_cursor_execute", fail)
