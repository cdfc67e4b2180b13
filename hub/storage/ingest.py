"""Storing record batches exactly once, the per-stream progress the hub acknowledges, and refusal counters.

``store_batch`` is one transaction: the new records, the batch's signed bytes (kept once, for the district
relay), the relay outbox entry, the stream's progress and the device's activity commit together or not at all.

Several hub workers may store batches of the same device at once on one PostgreSQL (shared subscriptions, a
resend racing the original). Each transaction first takes the row lock of its (device, stream) ``stream_state``
row (``SELECT ... FOR UPDATE``), so the transactions of one stream run one after the other: the next one starts
after the previous one committed and, in READ COMMITTED, sees every record it stored. That makes the duplicate
check exact and ``contiguous_upto`` free of lost updates (two workers storing seq 5 and seq 6 on top of 4: the
second to take the lock sees the first's record and advances to 6). Different streams and devices never wait for
each other. On SQLite every write transaction is ``BEGIN IMMEDIATE``: one writer at a time.

``contiguous_upto`` advances from its previous value by walking the stored seqs above it in index order, so the
cost is the records that became contiguous (each counted once over the stream's life), never the whole history.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub.storage import media, presence
from hub.storage.devices import DeviceStatus
from hub.storage.engine import Target, dialect_insert, reading, writing
from hub.storage.errors import DeviceStateError, InvalidValueError, UnknownDeviceError
from hub.storage.models import (
    Batch,
    Device,
    Event,
    Incident,
    Refusal,
    RelayOutbox,
    Snapshot,
    StreamState,
    check_int,
    check_text,
)
from protocol.envelope import MAX_RECORDS
from protocol.records import IncidentRecord, ScanRecord, SnapshotRecord
from protocol.topics import Stream

MAX_MISSING_RANGES = 16
"""Gap ranges reported per batch (the first ones above ``contiguous_upto``)."""
WALK_CHUNK = 2048
"""Stored seqs read per query while advancing ``contiguous_upto``."""
GAP_SCAN_ROWS = 4096
"""How many stored records past the first gap are read looking for further gaps; beyond them gaps are reported
once the first ones are filled (the device resends everything above the ack anyway)."""
REASON = re.compile(r"[a-z0-9_]{1,32}")

StreamRecord = ScanRecord | IncidentRecord | SnapshotRecord
RecordTable = type[Event] | type[Incident] | type[Snapshot]
_RECORD_TYPES: dict[Stream, type[StreamRecord]] = {
    Stream.EVENTS: ScanRecord,
    Stream.INCIDENTS: IncidentRecord,
    Stream.SNAPSHOTS: SnapshotRecord,
}

_EVENT_TEXTS = {
    column.name: column.type.length
    for column in Event.__table__.columns
    if isinstance(column.type, sa.String) and column.type.length is not None
}


@dataclass(frozen=True, slots=True)
class StoreResult:
    """What storing a batch did; the ack carries ``contiguous_upto`` and ``missing``."""

    stored: int
    """Records stored now."""
    duplicates: int
    """Records already held (acknowledged again, stored once)."""
    contiguous_upto: int
    """Every seq 1..contiguous_upto of the stream is stored."""
    missing: list[tuple[int, int]]
    """Gaps (first, last) above ``contiguous_upto`` and below ``max_seq``, the first ones only."""
    max_seq: int
    batch_id: int | None
    """The stored batch (None when it brought nothing new)."""


@dataclass(frozen=True, slots=True)
class StreamProgress:
    """A stream's progress at the hub."""

    device_id: str
    stream: Stream
    contiguous_upto: int
    max_seq: int
    last_received_at: float | None


def batch_sha256(batch_cose: bytes) -> str:
    """The batch's identity: SHA-256 of the signed bytes, hex (also its relay idempotency key)."""
    return hashlib.sha256(batch_cose).hexdigest()


def store_batch(
    target: Target,
    device_id: str,
    stream: Stream,
    batch_cose: bytes,
    records: Sequence[tuple[int, StreamRecord]],
    *,
    now: float,
) -> StoreResult:
    """Store a verified batch's records once each, in one transaction (see the module's notes on concurrency).

    ``records`` are of the stream's type (``ScanRecord``, ``IncidentRecord`` or ``SnapshotRecord``); incidents and
    snapshots also announce the images they point at (``media.py``), whose chunks follow.
    """
    stream = Stream(stream)
    _check_seqs(records)
    if not all(isinstance(record, _RECORD_TYPES[stream]) for _, record in records):
        raise InvalidValueError(f"records of the {stream.value} stream must be {_RECORD_TYPES[stream].__name__}")
    rows = _rows(device_id, stream, records, now)
    seqs = [seq for seq, _ in records]
    sha = batch_sha256(batch_cose)
    with writing(target) as conn:
        status = conn.execute(sa.select(Device.status).where(Device.id == device_id)).scalar_one_or_none()
        if status is None:
            raise UnknownDeviceError(f"no device {device_id!r}")
        if status != DeviceStatus.ENROLLED.value:
            raise DeviceStateError(f"device {device_id} is {status}: its batches are not stored")
        contiguous, max_seq = _lock_stream(conn, device_id, stream)
        held = _held_seqs(conn, device_id, stream, seqs)
        new = [(row, record) for row, (_, record) in zip(rows, records, strict=True) if row["seq"] not in held]
        batch_id = None
        stored = 0
        if new:
            batch_id = _insert_batch(conn, device_id, stream, cose=batch_cose, sha=sha, seqs=seqs, now=now)
            for row, _ in new:
                row["batch_id"] = batch_id
            # Under the stream's lock nobody else inserts these seqs: every new row is inserted (DO NOTHING is a
            # second guard). No RETURNING: a plain executemany is 4x faster on PostgreSQL.
            _insert_records(conn, device_id, stream, new, now)
            stored = len(new)
            conn.execute(
                dialect_insert(conn, RelayOutbox)
                .values(
                    device_id=device_id,
                    stream=stream.value,
                    batch_id=batch_id,
                    idempotency_key=sha,
                    created_at=now,
                    next_attempt_at=now,
                )
                .on_conflict_do_nothing()
            )
        max_seq = max(max_seq, seqs[-1])
        contiguous, missing = _advance(conn, device_id, stream, contiguous)
        conn.execute(
            sa.update(StreamState)
            .where(StreamState.device_id == device_id, StreamState.stream == stream.value)
            .values(contiguous_upto=contiguous, max_seq=max_seq, last_received_at=now)
        )
        presence.touch(conn, device_id, now=now, data_at=max(record.at for _, record in records))
    return StoreResult(stored, len(rows) - stored, contiguous, missing, max_seq, batch_id)


def _check_seqs(records: Sequence[tuple[int, StreamRecord]]) -> None:
    if not 0 < len(records) <= MAX_RECORDS:
        raise InvalidValueError(f"a batch holds 1 to {MAX_RECORDS} records")
    previous = 0
    for seq, _ in records:
        check_int("seq", seq, low=1)
        if seq <= previous:
            raise InvalidValueError("seqs of a batch must be strictly ascending")
        previous = seq


def _table(stream: Stream) -> RecordTable:
    if stream is Stream.INCIDENTS:
        return Incident
    if stream is Stream.SNAPSHOTS:
        return Snapshot
    return Event


def _of_stream(table: RecordTable, device_id: str, stream: Stream) -> list[sa.ColumnElement[bool]]:
    """The rows of one device's stream in its table (only the events table holds a stream column)."""
    conditions = [table.device_id == device_id]
    if table is Event:
        conditions.append(Event.stream == stream.value)
    return conditions


def _rows(
    device_id: str, stream: Stream, records: Sequence[tuple[int, StreamRecord]], now: float
) -> list[dict[str, object]]:
    if stream is Stream.INCIDENTS:
        return media.incident_rows(device_id, [(s, r) for s, r in records if isinstance(r, IncidentRecord)], now)
    if stream is Stream.SNAPSHOTS:
        return media.snapshot_rows(device_id, [(s, r) for s, r in records if isinstance(r, SnapshotRecord)], now)
    return _event_rows(device_id, stream, [(s, r) for s, r in records if isinstance(r, ScanRecord)], now)


def _insert_records(
    conn: Connection, device_id: str, stream: Stream, new: list[tuple[dict[str, object], StreamRecord]], now: float
) -> None:
    if stream is Stream.INCIDENTS:
        media.insert_incidents(conn, device_id, [(w, r) for w, r in new if isinstance(r, IncidentRecord)], now)
    elif stream is Stream.SNAPSHOTS:
        media.insert_snapshots(conn, device_id, [(w, r) for w, r in new if isinstance(r, SnapshotRecord)], now)
    else:
        conn.execute(dialect_insert(conn, Event).on_conflict_do_nothing(), [row for row, _ in new])


def _event_rows(
    device_id: str, stream: Stream, records: Sequence[tuple[int, ScanRecord]], now: float
) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for seq, record in records:
        row: dict[str, object] = {
            "device_id": device_id,
            "stream": stream.value,
            "seq": seq,
            "boot": record.boot,
            "at": record.at,
            "time_source": record.time_source,
            "decision": record.decision,
            "reason": record.reason,
            "kind": record.kind,
            "iss": record.iss,
            "status": record.status,
            "rid": record.rid,
            "latency_ms": record.latency_ms,
            "received_at": now,
        }
        for name, limit in _EVENT_TEXTS.items():
            value = row[name]
            check_text(name, value if isinstance(value, str) else None, limit)
        rows.append(row)
    return rows


def _held_seqs(conn: Connection, device_id: str, stream: Stream, seqs: list[int]) -> set[int]:
    """Which of the batch's seqs are stored already (exact under the stream's lock)."""
    table = _table(stream)
    query = sa.select(table.seq).where(*_of_stream(table, device_id, stream))
    if seqs[-1] - seqs[0] < 2 * len(seqs):  # dense (the usual batch): one index range
        query = query.where(table.seq.between(seqs[0], seqs[-1]))
    else:
        query = query.where(table.seq.in_(seqs))
    return set(conn.execute(query).scalars()) & set(seqs)


def _lock_stream(conn: Connection, device_id: str, stream: Stream) -> tuple[int, int]:
    """Create the stream's progress row if needed and lock it until commit: (contiguous_upto, max_seq)."""
    conn.execute(
        dialect_insert(conn, StreamState)
        .values(device_id=device_id, stream=stream.value, contiguous_upto=0, max_seq=0)
        .on_conflict_do_nothing()
    )
    row = conn.execute(
        sa.select(StreamState.contiguous_upto, StreamState.max_seq)
        .where(StreamState.device_id == device_id, StreamState.stream == stream.value)
        .with_for_update()
    ).one()
    return int(row[0]), int(row[1])


def _insert_batch(
    conn: Connection, device_id: str, stream: Stream, *, cose: bytes, sha: str, seqs: list[int], now: float
) -> int:
    batch_id = conn.execute(
        dialect_insert(conn, Batch)
        .values(
            device_id=device_id,
            stream=stream.value,
            first_seq=seqs[0],
            last_seq=seqs[-1],
            records=len(seqs),
            sha256=sha,
            received_at=now,
            cose=cose,
        )
        .on_conflict_do_nothing()
        .returning(Batch.id)
    ).scalar_one_or_none()
    if batch_id is None:  # the same bytes were stored before: they carried these records then
        batch_id = conn.execute(sa.select(Batch.id).where(Batch.sha256 == sha)).scalar_one()
    return int(batch_id)


def _advance(conn: Connection, device_id: str, stream: Stream, contiguous: int) -> tuple[int, list[tuple[int, int]]]:
    """Walk the stored seqs above ``contiguous``: the new contiguous end, and the first gaps after it."""
    missing: list[tuple[int, int]] = []
    last = contiguous
    past_gap = 0
    table = _table(stream)
    while True:
        chunk = list(
            conn.execute(
                sa.select(table.seq)
                .where(*_of_stream(table, device_id, stream), table.seq > last)
                .order_by(table.seq)
                .limit(WALK_CHUNK)
            ).scalars()
        )
        for seq in chunk:
            if seq != last + 1:
                if len(missing) < MAX_MISSING_RANGES:
                    missing.append((last + 1, seq - 1))
            elif not missing:
                contiguous = seq
            last = seq
        if missing:
            past_gap += len(chunk)
        if len(chunk) < WALK_CHUNK or len(missing) >= MAX_MISSING_RANGES or past_gap >= GAP_SCAN_ROWS:
            return contiguous, missing


def stream_progress(target: Target, device_id: str, stream: Stream) -> StreamProgress:
    """Where a stream stands (all zero before its first batch): what a re-ack after reconnecting says."""
    with reading(target) as conn:
        row = conn.execute(
            sa.select(StreamState.contiguous_upto, StreamState.max_seq, StreamState.last_received_at).where(
                StreamState.device_id == device_id, StreamState.stream == Stream(stream).value
            )
        ).one_or_none()
    if row is None:
        return StreamProgress(device_id, Stream(stream), 0, 0, None)
    return StreamProgress(device_id, Stream(stream), int(row[0]), int(row[1]), row[2])


def missing_ranges(target: Target, device_id: str, stream: Stream) -> list[tuple[int, int]]:
    """The first gaps of a stream above its ``contiguous_upto``, as ``store_batch`` reports them."""
    with reading(target) as conn:
        contiguous = conn.execute(
            sa.select(StreamState.contiguous_upto).where(
                StreamState.device_id == device_id, StreamState.stream == Stream(stream).value
            )
        ).scalar_one_or_none()
        return _advance(conn, device_id, Stream(stream), int(contiguous or 0))[1]


@dataclass(frozen=True, slots=True)
class RefusalCount:
    """How often one reason was refused for one device (None: no enrolled device)."""

    device_id: str | None
    reason: str
    count: int
    last_at: float


def count_refusal(target: Target, reason: str, device_id: str | None = None, *, now: float) -> None:
    """Count one refusal. An id that names no stored device is counted under no device, so made-up ids (the topic
    is all an unenrolled sender controls) cannot grow the table."""
    if not REASON.fullmatch(reason):
        raise InvalidValueError("a refusal reason is 1-32 of a-z, 0-9 and '_'")
    with writing(target) as conn:
        if device_id is not None:
            device_id = conn.execute(sa.select(Device.id).where(Device.id == device_id)).scalar_one_or_none()
        insert = dialect_insert(conn, Refusal).values(device_id=device_id, reason=reason, count=1, last_at=now)
        update = {"count": Refusal.count + 1, "last_at": insert.excluded.last_at}
        if device_id is None:
            statement = insert.on_conflict_do_update(
                index_elements=[Refusal.reason], index_where=Refusal.device_id.is_(None), set_=update
            )
        else:
            statement = insert.on_conflict_do_update(
                index_elements=[Refusal.device_id, Refusal.reason],
                index_where=Refusal.device_id.is_not(None),
                set_=update,
            )
        conn.execute(statement)


def refusal_counts(target: Target) -> list[RefusalCount]:
    """Every refusal counter, by device (no device first) and reason."""
    with reading(target) as conn:
        rows = conn.execute(
            sa.select(Refusal.device_id, Refusal.reason, Refusal.count, Refusal.last_at).order_by(
                Refusal.device_id.is_not(None), Refusal.device_id, Refusal.reason
            )
        ).all()
    return [RefusalCount(row[0], row[1], int(row[2]), row[3]) for row in rows]
