"""The district center's database (SQLite through SQLAlchemy 2 Core): the devices each hub registered, every
relayed batch once, every record once, and refusal counters.

A batch is stored idempotently twice over: on the hub's ``Idempotency-Key`` (the same key again is a duplicate; the
same key with other bytes is a conflict) and per record on (device, stream, seq), so a batch that repeats records of
an earlier one stores only the new ones. Batches keep their arrival order (``arrival``) and the device's own signed
bytes, so anyone can check later who reported what.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects.sqlite import insert
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, OperationalError

from protocol.envelope import Batch

BUSY_TIMEOUT_S = 30.0
DB_NAME = "district.db"

metadata = sa.MetaData()

devices = sa.Table(
    "devices",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("hub", sa.String(64), nullable=False),
    sa.Column("public_key", sa.LargeBinary(512), nullable=False),
    sa.Column("profile", sa.String(16), nullable=False),
    sa.Column("registered_at", sa.Double, nullable=False),
    sa.Column("decommissioned_at", sa.Double),
)
batches = sa.Table(
    "batches",
    metadata,
    sa.Column("arrival", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("idempotency_key", sa.String(96), nullable=False, unique=True),
    sa.Column("sha256", sa.String(64), nullable=False, unique=True),
    sa.Column("hub", sa.String(64), nullable=False),
    sa.Column("device_id", sa.String(64), sa.ForeignKey("devices.id"), nullable=False),
    sa.Column("stream", sa.String(16), nullable=False),
    sa.Column("first_seq", sa.BigInteger, nullable=False),
    sa.Column("last_seq", sa.BigInteger, nullable=False),
    sa.Column("records", sa.Integer, nullable=False),
    sa.Column("new_records", sa.Integer, nullable=False),
    sa.Column("received_at", sa.Double, nullable=False),
    sa.Column("cose", sa.LargeBinary, nullable=False),
)
records = sa.Table(
    "records",
    metadata,
    sa.Column("device_id", sa.String(64), sa.ForeignKey("devices.id"), primary_key=True),
    sa.Column("stream", sa.String(16), primary_key=True),
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("arrival", sa.Integer, sa.ForeignKey("batches.arrival"), nullable=False),
    sa.Column("decision", sa.String(16)),
    sa.Column("reason", sa.String(32)),
    sa.Column("at", sa.Double),
)
refusals = sa.Table(
    "refusals",
    metadata,
    sa.Column("reason", sa.String(32), primary_key=True),
    sa.Column("count", sa.BigInteger, nullable=False),
    sa.Column("last_at", sa.Double, nullable=False),
)


class StoreError(Exception):
    """The district database refused or could not do something."""


class RegistrationProblem(StrEnum):
    """Why a device registration or decommission was refused."""

    OTHER_HUB = "other_hub"
    KEY_CONFLICT = "key_conflict"
    DECOMMISSIONED = "decommissioned"
    UNKNOWN_DEVICE = "unknown_device"


class RegistrationError(StoreError):
    """A registration the district refuses; ``problem`` says why."""

    def __init__(self, problem: RegistrationProblem, detail: str) -> None:
        super().__init__(detail)
        self.problem = problem


class IdempotencyConflictError(StoreError):
    """An idempotency key already names a batch with other bytes."""


@dataclass(frozen=True, slots=True)
class DeviceEntry:
    """A registered device."""

    id: str
    hub: str
    public_key: bytes
    profile: str
    registered_at: float
    decommissioned_at: float | None


@dataclass(frozen=True, slots=True)
class StoredBatch:
    """What storing one relayed batch did."""

    duplicate: bool
    """The idempotency key (or these very bytes) arrived before: nothing was stored this time."""
    stored: int
    duplicates: int


@dataclass(frozen=True, slots=True)
class RecordRow:
    """The fields the district indexes of a record (events: decision, reason, time; other streams: none)."""

    seq: int
    decision: str | None = None
    reason: str | None = None
    at: float | None = None


@dataclass(frozen=True, slots=True)
class ArrivedBatch:
    """A stored batch, in arrival order."""

    arrival: int
    device_id: str
    stream: str
    first_seq: int
    last_seq: int
    cose: bytes


def create_engine(data_dir: Path) -> Engine:
    """An engine on ``DATA_DIR/district.db`` (WAL, FULL sync, foreign keys, BEGIN IMMEDIATE), schema made."""
    data_dir.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(
        f"sqlite:///{data_dir / DB_NAME}", connect_args={"timeout": BUSY_TIMEOUT_S, "check_same_thread": False}
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:  # noqa: ANN401 - DB-API objects are untyped
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    metadata.create_all(engine)
    return engine


class DistrictStore:
    """Every read and write of the district database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        try:
            with self.engine.begin() as conn:
                yield conn
        except OperationalError as exc:
            raise StoreError(f"the district database is unavailable or busy: {exc.orig}") from exc

    def _device(self, conn: Connection, device_id: str) -> DeviceEntry | None:
        row = conn.execute(sa.select(devices).where(devices.c.id == device_id)).one_or_none()
        return None if row is None else DeviceEntry(row[0], row[1], bytes(row[2]), row[3], row[4], row[5])

    def device(self, device_id: str) -> DeviceEntry | None:
        """A registered device, whatever its state."""
        with self._tx() as conn:
            return self._device(conn, device_id)

    def register(self, hub: str, device_id: str, public_key: bytes, profile: str, *, now: float) -> bool:
        """Register a device's key for ``hub``; True when new, False when it was registered so before."""
        with self._tx() as conn:
            held = self._device(conn, device_id)
            if held is None:
                conn.execute(
                    devices.insert().values(
                        id=device_id, hub=hub, public_key=public_key, profile=profile, registered_at=now
                    )
                )
                return True
            if held.hub != hub:
                raise RegistrationError(RegistrationProblem.OTHER_HUB, f"{device_id} belongs to another hub")
            if held.public_key != public_key:
                raise RegistrationError(RegistrationProblem.KEY_CONFLICT, f"{device_id} is registered with another key")
            if held.decommissioned_at is not None:
                raise RegistrationError(RegistrationProblem.DECOMMISSIONED, f"{device_id} was decommissioned")
            return False

    def decommission(self, hub: str, device_id: str, *, now: float) -> bool:
        """Retire a device: its later batches are refused. True when it was active until now."""
        with self._tx() as conn:
            held = self._device(conn, device_id)
            if held is None:
                raise RegistrationError(RegistrationProblem.UNKNOWN_DEVICE, f"{device_id} is not registered")
            if held.hub != hub:
                raise RegistrationError(RegistrationProblem.OTHER_HUB, f"{device_id} belongs to another hub")
            if held.decommissioned_at is not None:
                return False
            conn.execute(sa.update(devices).where(devices.c.id == device_id).values(decommissioned_at=now))
            return True

    def store_batch(
        self, hub: str, idempotency_key: str, cose: bytes, batch: Batch, rows: Sequence[RecordRow], *, now: float
    ) -> StoredBatch:
        """Store a verified batch once (on its key and its bytes) and each record once (device, stream, seq)."""
        sha = hashlib.sha256(cose).hexdigest()
        with self._tx() as conn:
            held = (
                conn.execute(
                    sa.select(batches.c.sha256).where(
                        sa.or_(batches.c.idempotency_key == idempotency_key, batches.c.sha256 == sha)
                    )
                )
                .scalars()
                .all()
            )
            if held:
                if any(digest != sha for digest in held):
                    raise IdempotencyConflictError("this idempotency key names a batch with other bytes")
                return StoredBatch(duplicate=True, stored=0, duplicates=len(rows))
            try:
                arrival = conn.execute(
                    batches.insert()
                    .values(
                        idempotency_key=idempotency_key,
                        sha256=sha,
                        hub=hub,
                        device_id=batch.device,
                        stream=batch.stream.value,
                        first_seq=batch.first_seq,
                        last_seq=batch.last_seq,
                        records=len(rows),
                        new_records=0,
                        received_at=now,
                        cose=cose,
                    )
                    .returning(batches.c.arrival)
                ).scalar_one()
            except IntegrityError as exc:
                raise StoreError("the batch could not be stored") from exc
            stored = 0
            for row in rows:
                result = conn.execute(
                    insert(records)
                    .values(
                        device_id=batch.device,
                        stream=batch.stream.value,
                        seq=row.seq,
                        arrival=arrival,
                        decision=row.decision,
                        reason=row.reason,
                        at=row.at,
                    )
                    .on_conflict_do_nothing()
                )
                stored += result.rowcount
            conn.execute(sa.update(batches).where(batches.c.arrival == arrival).values(new_records=stored))
        return StoredBatch(duplicate=False, stored=stored, duplicates=len(rows) - stored)

    def holds(self, idempotency_key: str, cose: bytes) -> bool:
        """Whether this very batch (by its key or its bytes) is stored."""
        sha = hashlib.sha256(cose).hexdigest()
        with self._tx() as conn:
            held = (
                conn.execute(
                    sa.select(batches.c.sha256).where(
                        sa.or_(batches.c.idempotency_key == idempotency_key, batches.c.sha256 == sha)
                    )
                )
                .scalars()
                .all()
            )
        return bool(held) and all(digest == sha for digest in held)

    def count_refusal(self, reason: str, *, now: float) -> None:
        """Count one refusal under ``reason`` (a fixed code, never the input)."""
        with self._tx() as conn:
            conn.execute(
                insert(refusals)
                .values(reason=reason, count=1, last_at=now)
                .on_conflict_do_update(
                    index_elements=[refusals.c.reason],
                    set_={"count": refusals.c.count + 1, "last_at": now},
                )
            )

    def counts(self) -> dict[str, Any]:
        """Records per device and decision, totals, and refusals: what the demo and the drills compare."""
        with self._tx() as conn:
            per: dict[str, dict[str, int]] = {}
            for device_id, decision, count in conn.execute(
                sa.select(records.c.device_id, records.c.decision, sa.func.count())
                .group_by(records.c.device_id, records.c.decision)
                .order_by(records.c.device_id, records.c.decision)
            ):
                per.setdefault(device_id, {})[decision or "none"] = int(count)
            total_batches = conn.execute(sa.select(sa.func.count()).select_from(batches)).scalar_one()
            total_records = conn.execute(sa.select(sa.func.count()).select_from(records)).scalar_one()
            refused = {r: int(c) for r, c in conn.execute(sa.select(refusals.c.reason, refusals.c.count))}
            registered = conn.execute(sa.select(sa.func.count()).select_from(devices)).scalar_one()
        return {
            "devices": per,
            "records": int(total_records),
            "batches": int(total_batches),
            "registered_devices": int(registered),
            "refusals": refused,
        }

    def seq_ranges(self, stream: str) -> tuple[dict[str, list[list[int]]], int]:
        """Per device, the sequence numbers held of ``stream`` as inclusive ranges, and the rows counted: what the
        demo and the drills compare with the terminals' own numbers (lost, doubled)."""
        with self._tx() as conn:
            rows = conn.execute(
                sa.select(records.c.device_id, records.c.seq)
                .where(records.c.stream == stream)
                .order_by(records.c.device_id, records.c.seq)
            ).all()
        ranges: dict[str, list[list[int]]] = {}
        for device_id, seq in rows:
            held = ranges.setdefault(device_id, [])
            if held and held[-1][1] + 1 == seq:
                held[-1][1] = int(seq)
            elif not held or held[-1][1] != seq:
                held.append([int(seq), int(seq)])
        return ranges, len(rows)

    def arrivals(self, device_id: str | None = None) -> list[ArrivedBatch]:
        """Stored batches in the order they arrived (of one device, or all)."""
        query = sa.select(
            batches.c.arrival,
            batches.c.device_id,
            batches.c.stream,
            batches.c.first_seq,
            batches.c.last_seq,
            batches.c.cose,
        ).order_by(batches.c.arrival)
        if device_id is not None:
            query = query.where(batches.c.device_id == device_id)
        with self._tx() as conn:
            return [ArrivedBatch(r[0], r[1], r[2], int(r[3]), int(r[4]), bytes(r[5])) for r in conn.execute(query)]

    def record_seqs(self, device_id: str, stream: str) -> list[int]:
        """Every stored seq of one device's stream, ascending."""
        with self._tx() as conn:
            return [
                int(seq)
                for seq in conn.execute(
                    sa.select(records.c.seq)
                    .where(records.c.device_id == device_id, records.c.stream == stream)
                    .order_by(records.c.seq)
                ).scalars()
            ]
