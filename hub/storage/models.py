"""The hub's tables (SQLAlchemy 2 typed declarative); the schema itself is made by the Alembic migrations.

Times the hub reads from its own clock (``*_at`` except where noted) and times devices report are both stored as
Unix seconds in a double: one representation across terminal, protocol and hub, with no time-zone ambiguity on
SQLite. Sequence numbers are 64-bit signed integers on both databases: the hub stores seq 1..2**63-1 (a terminal's
own SQLite store cannot count higher either). Every text column has a length, checked in code before it is written
(SQLite does not enforce it). Nothing here holds a pass text, a name or a holder id.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from hub.storage.errors import InvalidValueError

MAX_SQL_INT = 2**63 - 1
DEVICE_ID_LEN = 64
STREAM_LEN = 16
BOOT_ID_LEN = 32
SHA256_HEX_LEN = 64
REASON_LEN = 32
LIST_ID_LEN = 64
FIRMWARE_LEN = 64
ERROR_LEN = 256
IDEMPOTENCY_KEY_LEN = 96
MAX_PUBLIC_KEY_BYTES = 512

DEVICE_STATUSES = ("pending", "enrolled", "decommissioned")
PRESENCE_STATES = ("online", "offline", "stopped")
LIST_KINDS = ("trust", "revocation")

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
"""Surrogate keys: BIGINT on PostgreSQL, INTEGER (the rowid alias) on SQLite."""
Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


class Base(DeclarativeBase):
    """Declarative base with deterministic constraint names (the migrations name them the same way)."""

    metadata = sa.MetaData(naming_convention=NAMING)
    type_annotation_map: dict[Any, Any] = {float: sa.Double()}  # noqa: RUF012 - SQLAlchemy's own class attribute


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Device(Base):
    """An enrolled (or requested, or retired) terminal; its id is also its broker user name."""

    __tablename__ = "devices"
    __table_args__ = (sa.CheckConstraint(_in("status", DEVICE_STATUSES), name="status"),)

    id: Mapped[str] = mapped_column(sa.String(DEVICE_ID_LEN), primary_key=True)
    public_key: Mapped[bytes] = mapped_column(sa.LargeBinary(MAX_PUBLIC_KEY_BYTES))
    """Ed25519 SubjectPublicKeyInfo DER: the key the device signs batches and state messages with."""
    status: Mapped[str] = mapped_column(sa.String(16))
    profile: Mapped[str] = mapped_column(sa.String(16))
    site: Mapped[str | None] = mapped_column(sa.String(64))
    grid_cell: Mapped[str | None] = mapped_column(sa.String(64))
    created_at: Mapped[float]
    enrolled_at: Mapped[float | None]
    decommissioned_at: Mapped[float | None]


class DeviceBoot(Base):
    """Every boot id a device reported, numbered in the order the hub first saw them (presence ordering)."""

    __tablename__ = "device_boots"
    __table_args__ = (sa.UniqueConstraint("device_id", "ordinal"),)

    device_id: Mapped[str] = mapped_column(sa.ForeignKey("devices.id"), primary_key=True)
    boot_id: Mapped[str] = mapped_column(sa.String(BOOT_ID_LEN), primary_key=True)
    ordinal: Mapped[int]
    first_seen_at: Mapped[float]


class Presence(Base):
    """What the hub knows of a device's connection and data, each fact tracked separately (sync spec)."""

    __tablename__ = "presence"
    __table_args__ = (sa.CheckConstraint(_in("state", PRESENCE_STATES), name="state"),)

    device_id: Mapped[str] = mapped_column(sa.ForeignKey("devices.id"), primary_key=True)
    connected: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    state: Mapped[str | None] = mapped_column(sa.String(16))
    boot_id: Mapped[str | None] = mapped_column(sa.String(BOOT_ID_LEN))
    boot_ordinal: Mapped[int | None]
    state_at: Mapped[float | None]
    """The device's own timestamp of the state message applied last."""
    last_birth_at: Mapped[float | None]
    """The device's timestamp of the newest birth of the current boot."""
    last_activity_at: Mapped[float | None]
    """Hub time of the last message the device itself sent (birth, clean stop, batch)."""
    data_currency_at: Mapped[float | None]
    """The newest record's ``at`` (device clock) among the records stored."""
    backlog: Mapped[dict[str, Any] | None] = mapped_column(Json)
    firmware: Mapped[str | None] = mapped_column(sa.String(FIRMWARE_LEN))
    lists: Mapped[dict[str, Any] | None] = mapped_column(Json)
    clock: Mapped[dict[str, Any] | None] = mapped_column(Json)
    updated_at: Mapped[float | None]
    """Hub time the state was last applied."""


class Batch(Base):
    """A signed batch exactly as the device sent it, kept once, for the district relay."""

    __tablename__ = "batches"
    __table_args__ = (sa.Index(None, "device_id", "stream", "first_seq"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    device_id: Mapped[str] = mapped_column(sa.ForeignKey("devices.id"))
    stream: Mapped[str] = mapped_column(sa.String(STREAM_LEN))
    first_seq: Mapped[int] = mapped_column(sa.BigInteger)
    last_seq: Mapped[int] = mapped_column(sa.BigInteger)
    records: Mapped[int]
    sha256: Mapped[str] = mapped_column(sa.String(SHA256_HEX_LEN), unique=True)
    received_at: Mapped[float]
    cose: Mapped[bytes] = mapped_column(sa.LargeBinary)


class Event(Base):
    """One scan event, stored once per (device, stream, seq): the idempotency key is the primary key."""

    __tablename__ = "events"

    device_id: Mapped[str] = mapped_column(sa.ForeignKey("devices.id"), primary_key=True)
    stream: Mapped[str] = mapped_column(sa.String(STREAM_LEN), primary_key=True)
    seq: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True, autoincrement=False)
    boot: Mapped[str] = mapped_column(sa.String(BOOT_ID_LEN))
    at: Mapped[float]
    time_source: Mapped[str] = mapped_column(sa.String(16))
    decision: Mapped[str] = mapped_column(sa.String(16))
    reason: Mapped[str] = mapped_column(sa.String(REASON_LEN))
    kind: Mapped[str | None] = mapped_column(sa.String(8))
    iss: Mapped[str | None] = mapped_column(sa.String(256))
    status: Mapped[str | None] = mapped_column(sa.String(64))
    rid: Mapped[str | None] = mapped_column(sa.String(32))
    latency_ms: Mapped[float | None]
    received_at: Mapped[float]
    batch_id: Mapped[int] = mapped_column(Id, sa.ForeignKey("batches.id"))
    """The batch that carried the record first."""


class StreamState(Base):
    """Per device and stream: everything up to ``contiguous_upto`` is stored; ``max_seq`` is the highest seen."""

    __tablename__ = "stream_state"

    device_id: Mapped[str] = mapped_column(sa.ForeignKey("devices.id"), primary_key=True)
    stream: Mapped[str] = mapped_column(sa.String(STREAM_LEN), primary_key=True)
    contiguous_upto: Mapped[int] = mapped_column(sa.BigInteger, default=0, server_default="0")
    max_seq: Mapped[int] = mapped_column(sa.BigInteger, default=0, server_default="0")
    last_received_at: Mapped[float | None]


class RelayOutbox(Base):
    """Batches waiting for the district relay, delivered in ``id`` order per device."""

    __tablename__ = "relay_outbox"
    __table_args__ = (
        sa.Index(
            "ix_relay_outbox_pending",
            "id",
            sqlite_where=sa.text("delivered_at IS NULL"),
            postgresql_where=sa.text("delivered_at IS NULL"),
        ),
        sa.Index(
            "ix_relay_outbox_pending_device",
            "device_id",
            "id",
            sqlite_where=sa.text("delivered_at IS NULL"),
            postgresql_where=sa.text("delivered_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    device_id: Mapped[str] = mapped_column(sa.ForeignKey("devices.id"))
    stream: Mapped[str] = mapped_column(sa.String(STREAM_LEN))
    batch_id: Mapped[int] = mapped_column(Id, sa.ForeignKey("batches.id"), unique=True)
    idempotency_key: Mapped[str] = mapped_column(sa.String(IDEMPOTENCY_KEY_LEN), unique=True)
    created_at: Mapped[float]
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    next_attempt_at: Mapped[float]
    delivered_at: Mapped[float | None]
    last_error: Mapped[str | None] = mapped_column(sa.String(ERROR_LEN))


class ListDocument(Base):
    """A signed trust list or revocation update from the district, kept as received."""

    __tablename__ = "list_documents"
    __table_args__ = (
        sa.UniqueConstraint("kind", "list_id", "seq"),
        sa.CheckConstraint(_in("kind", LIST_KINDS), name="kind"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(sa.String(16))
    list_id: Mapped[str] = mapped_column(sa.String(LIST_ID_LEN))
    """The revocation list's id; the trust list (there is one) uses ``TRUST_LIST_ID``."""
    seq: Mapped[int] = mapped_column(sa.BigInteger)
    base: Mapped[int] = mapped_column(sa.BigInteger)
    """0 for a snapshot (and for every trust list); else the version a delta applies to."""
    ts: Mapped[int] = mapped_column(sa.BigInteger)
    sha256: Mapped[str] = mapped_column(sa.String(SHA256_HEX_LEN))
    received_at: Mapped[float]
    document: Mapped[bytes] = mapped_column(sa.LargeBinary)


class Refusal(Base):
    """How often something was refused, per reason and device (no device: unknown or none)."""

    __tablename__ = "refusals"
    __table_args__ = (
        sa.Index(
            "uq_refusals_device_reason",
            "device_id",
            "reason",
            unique=True,
            sqlite_where=sa.text("device_id IS NOT NULL"),
            postgresql_where=sa.text("device_id IS NOT NULL"),
        ),
        sa.Index(
            "uq_refusals_reason_no_device",
            "reason",
            unique=True,
            sqlite_where=sa.text("device_id IS NULL"),
            postgresql_where=sa.text("device_id IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    device_id: Mapped[str | None] = mapped_column(sa.ForeignKey("devices.id"))
    reason: Mapped[str] = mapped_column(sa.String(REASON_LEN))
    count: Mapped[int] = mapped_column(sa.BigInteger)
    last_at: Mapped[float]


def check_text(name: str, value: str | None, limit: int) -> None:
    """Refuse a text longer than its column (SQLite would store it whole)."""
    if value is not None and len(value) > limit:
        raise InvalidValueError(f"{name} is longer than {limit} characters")


def check_int(name: str, value: int, *, low: int = 0) -> None:
    """Refuse an integer the 64-bit signed columns cannot hold."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= MAX_SQL_INT:
        raise InvalidValueError(f"{name} must be an integer in {low}..{MAX_SQL_INT}")
