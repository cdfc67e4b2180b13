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
    storage: Mapped[dict[str, Any] | None] = mapped_column(Json)
    """The birth's storage figures (database and disk bytes); added by migration 0003."""


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
    __table_args__ = (sa.Index("ix_events_at_device_id_decision_stream", "at", "device_id", "decision", "stream"),)

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


# --- operators (migration 0003): accounts, sessions, API tokens, login attempts, the audit log, commands ----------

USERNAME_LEN = 64
ROLES = ("viewer", "operator", "admin")
PASSWORD_HASH_LEN = 256
TOKEN_HASH_LEN = 64
TOKEN_NAME_LEN = 64
CLIENT_LEN = 64
ACTOR_LEN = 96
ACTION_LEN = 64
TARGET_LEN = 128
OUTCOMES = ("ok", "refused", "failed")
AUDIT_DETAIL_LEN = 256
COMMAND_ID_LEN = 64
COMMAND_NAME_LEN = 16
RESULT_DETAIL_LEN = 128


class User(Base):
    """An operator account; the password is kept only as an argon2id hash."""

    __tablename__ = "users"
    __table_args__ = (sa.CheckConstraint(_in("role", ROLES), name="role"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(sa.String(USERNAME_LEN), unique=True)
    role: Mapped[str] = mapped_column(sa.String(16))
    password_hash: Mapped[str] = mapped_column(sa.String(PASSWORD_HASH_LEN))
    disabled: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    created_at: Mapped[float]
    password_changed_at: Mapped[float]


class UserSession(Base):
    """A dashboard session: the cookie carries a random token, the hub keeps only its SHA-256."""

    __tablename__ = "user_sessions"
    __table_args__ = (sa.Index(None, "user_id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    token_sha256: Mapped[str] = mapped_column(sa.String(TOKEN_HASH_LEN), unique=True)
    user_id: Mapped[int] = mapped_column(Id, sa.ForeignKey("users.id", ondelete="CASCADE"))
    csrf_token: Mapped[str] = mapped_column(sa.String(TOKEN_HASH_LEN))
    """Echoed by the dashboard's forms and the API's unsafe requests made with the cookie."""
    client: Mapped[str | None] = mapped_column(sa.String(CLIENT_LEN))
    created_at: Mapped[float]
    expires_at: Mapped[float]
    last_seen_at: Mapped[float]


class ApiToken(Base):
    """A bearer token for the API (scripts, the flashing tool, Prometheus); kept only as its SHA-256."""

    __tablename__ = "api_tokens"
    __table_args__ = (sa.Index(None, "user_id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    token_sha256: Mapped[str] = mapped_column(sa.String(TOKEN_HASH_LEN), unique=True)
    user_id: Mapped[int] = mapped_column(Id, sa.ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(sa.String(TOKEN_NAME_LEN))
    prefix: Mapped[str] = mapped_column(sa.String(16))
    """The token's first characters, to tell tokens apart in listings."""
    created_at: Mapped[float]
    expires_at: Mapped[float]
    revoked_at: Mapped[float | None]
    last_used_at: Mapped[float | None]


class LoginAttempt(Base):
    """Wrong logins per (username, client) in the current window: past the limit, logins are refused unchecked."""

    __tablename__ = "login_attempts"

    username: Mapped[str] = mapped_column(sa.String(USERNAME_LEN), primary_key=True)
    client: Mapped[str] = mapped_column(sa.String(CLIENT_LEN), primary_key=True)
    failures: Mapped[int]
    window_start: Mapped[float]


class AuditEntry(Base):
    """One operator action: who, what, on what, when, and how it ended."""

    __tablename__ = "audit_log"
    __table_args__ = (
        sa.CheckConstraint(_in("outcome", OUTCOMES), name="outcome"),
        sa.Index(None, "at"),
        sa.Index(None, "target"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    at: Mapped[float]
    actor: Mapped[str] = mapped_column(sa.String(ACTOR_LEN))
    actor_role: Mapped[str | None] = mapped_column(sa.String(16))
    action: Mapped[str] = mapped_column(sa.String(ACTION_LEN))
    target: Mapped[str | None] = mapped_column(sa.String(TARGET_LEN))
    outcome: Mapped[str] = mapped_column(sa.String(16))
    detail: Mapped[str | None] = mapped_column(sa.String(AUDIT_DETAIL_LEN))
    client: Mapped[str | None] = mapped_column(sa.String(CLIENT_LEN))


class DeviceCommand(Base):
    """A command sent to a device (its correlation id is the key) and the result the device answered."""

    __tablename__ = "device_commands"
    __table_args__ = (sa.Index(None, "device_id", "created_at"),)

    id: Mapped[str] = mapped_column(sa.String(COMMAND_ID_LEN), primary_key=True)
    device_id: Mapped[str] = mapped_column(sa.ForeignKey("devices.id"))
    command: Mapped[str] = mapped_column(sa.String(COMMAND_NAME_LEN))
    args: Mapped[dict[str, Any]] = mapped_column(Json)
    created_by: Mapped[str] = mapped_column(sa.String(ACTOR_LEN))
    created_at: Mapped[float]
    expires_at: Mapped[float | None]
    published: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    result_ok: Mapped[bool | None]
    result_detail: Mapped[str | None] = mapped_column(sa.String(RESULT_DETAIL_LEN))
    result_at: Mapped[float | None]


class DeviceConfigRow(Base):
    """One pushed configuration version of a device: the settings, the signed payload as sent, the answer."""

    __tablename__ = "device_configs"

    device_id: Mapped[str] = mapped_column(sa.ForeignKey("devices.id"), primary_key=True)
    version: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True, autoincrement=False)
    settings: Mapped[dict[str, Any]] = mapped_column(Json)
    payload: Mapped[bytes] = mapped_column(sa.LargeBinary)
    created_at: Mapped[float]
    created_by: Mapped[str] = mapped_column(sa.String(64))
    published_at: Mapped[float | None]
    """When it was last handed to the broker (retained); None: the worker publishes it on its next round."""
    answered_at: Mapped[float | None]
    answer_ok: Mapped[bool | None]
    answer_detail: Mapped[str | None] = mapped_column(sa.String(128))


# --- district relay (migration 0004): parked batches, device registration upstream, the relay's lease -------------

RELAY_LEASE_HOLDER_LEN = 64


class RelayParked(Base):
    """A relay outbox entry the district refused for good (a 4xx other than "register first"): kept, not retried,
    shown to operators until one requeues it. Later batches of the device go on without it."""

    __tablename__ = "relay_parked"

    outbox_id: Mapped[int] = mapped_column(Id, sa.ForeignKey("relay_outbox.id"), primary_key=True)
    reason: Mapped[str] = mapped_column(sa.String(REASON_LEN))
    http_status: Mapped[int | None]
    detail: Mapped[str | None] = mapped_column(sa.String(ERROR_LEN))
    parked_at: Mapped[float]


class RelayDevice(Base):
    """What the district knows of a device: its key registered (and when), its decommission notified."""

    __tablename__ = "relay_devices"

    device_id: Mapped[str] = mapped_column(sa.ForeignKey("devices.id"), primary_key=True)
    registered_at: Mapped[float | None]
    decommission_sent_at: Mapped[float | None]
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    next_attempt_at: Mapped[float] = mapped_column(default=0.0, server_default="0")
    last_error: Mapped[str | None] = mapped_column(sa.String(ERROR_LEN))


class RelayLease(Base):
    """Which hub worker runs the relay now: one at a time, so a device's batches leave in order."""

    __tablename__ = "relay_lease"

    name: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    holder: Mapped[str] = mapped_column(sa.String(RELAY_LEASE_HOLDER_LEN))
    expires_at: Mapped[float]


# --- incidents, snapshots and images (migration 0002) -----------------------------------------------------------

CATEGORY_LEN = 64
NOTE_LEN = 1000
GRID_CELL_LEN = 64
CAMERA_LEN = 64
TRIGGER_LEN = 16
CONTENT_TYPE_LEN = 32


class Incident(Base):
    """An incident report from a handheld, stored once per (device, seq) of its ``incidents`` stream."""

    __tablename__ = "incidents"
    __table_args__ = (sa.Index(None, "at"),)

    device_id: Mapped[str] = mapped_column(sa.ForeignKey("devices.id"), primary_key=True)
    seq: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True, autoincrement=False)
    boot: Mapped[str] = mapped_column(sa.String(BOOT_ID_LEN))
    at: Mapped[float]
    time_source: Mapped[str] = mapped_column(sa.String(16))
    category: Mapped[str] = mapped_column(sa.String(CATEGORY_LEN))
    note: Mapped[str] = mapped_column(sa.String(NOTE_LEN))
    lat: Mapped[float | None]
    lon: Mapped[float | None]
    accuracy_m: Mapped[float | None]
    grid_cell: Mapped[str | None] = mapped_column(sa.String(GRID_CELL_LEN))
    photos: Mapped[int]
    received_at: Mapped[float]
    batch_id: Mapped[int] = mapped_column(Id, sa.ForeignKey("batches.id"))


class IncidentPhoto(Base):
    """The images an incident points at, in the order the report lists them."""

    __tablename__ = "incident_photos"
    __table_args__ = (sa.ForeignKeyConstraint(["device_id", "seq"], ["incidents.device_id", "incidents.seq"]),)

    device_id: Mapped[str] = mapped_column(sa.String(DEVICE_ID_LEN), primary_key=True)
    seq: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True, autoincrement=False)
    position: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    image_sha256: Mapped[str] = mapped_column(sa.String(SHA256_HEX_LEN))


class Snapshot(Base):
    """A camera snapshot's metadata, stored once per (device, seq) of its ``snapshots`` stream."""

    __tablename__ = "snapshots"
    __table_args__ = (sa.Index(None, "at"),)

    device_id: Mapped[str] = mapped_column(sa.ForeignKey("devices.id"), primary_key=True)
    seq: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True, autoincrement=False)
    boot: Mapped[str] = mapped_column(sa.String(BOOT_ID_LEN))
    at: Mapped[float]
    time_source: Mapped[str] = mapped_column(sa.String(16))
    camera: Mapped[str] = mapped_column(sa.String(CAMERA_LEN))
    trigger: Mapped[str] = mapped_column(sa.String(TRIGGER_LEN))
    image_sha256: Mapped[str] = mapped_column(sa.String(SHA256_HEX_LEN))
    width: Mapped[int]
    height: Mapped[int]
    received_at: Mapped[float]
    batch_id: Mapped[int] = mapped_column(Id, sa.ForeignKey("batches.id"))


class Image(Base):
    """An image a stored signed record announced: its bytes arrive in chunks; ``have`` bytes from 0 are held,
    and ``complete`` once the SHA-256 of the whole matched the announced one."""

    __tablename__ = "images"
    __table_args__ = (sa.Index(None, "sha256"),)

    device_id: Mapped[str] = mapped_column(sa.ForeignKey("devices.id"), primary_key=True)
    sha256: Mapped[str] = mapped_column(sa.String(SHA256_HEX_LEN), primary_key=True)
    size: Mapped[int]
    content_type: Mapped[str] = mapped_column(sa.String(CONTENT_TYPE_LEN))
    have: Mapped[int] = mapped_column(default=0, server_default="0")
    complete: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    chunks: Mapped[int] = mapped_column(default=0, server_default="0")
    """Chunk rows held (bounded per image)."""
    restarts: Mapped[int] = mapped_column(default=0, server_default="0")
    """How often the whole arrived with another SHA-256 and was dropped."""
    created_at: Mapped[float]
    completed_at: Mapped[float | None]


class ImageChunk(Base):
    """Bytes ``start .. start+length`` of an image, as one chunk brought them (overlaps are allowed)."""

    __tablename__ = "image_chunks"
    __table_args__ = (sa.ForeignKeyConstraint(["device_id", "sha256"], ["images.device_id", "images.sha256"]),)

    device_id: Mapped[str] = mapped_column(sa.String(DEVICE_ID_LEN), primary_key=True)
    sha256: Mapped[str] = mapped_column(sa.String(SHA256_HEX_LEN), primary_key=True)
    start: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    length: Mapped[int]
    data: Mapped[bytes] = mapped_column(sa.LargeBinary)


# --- terminal identity (migration 0006): the stores its sequence numbers came from, the keys it rotated away from -

STORE_TAG_LEN = 8
STORE_ID_LEN = 32
KID_HEX_LEN = 16
STORE_STATES = ("current", "conflict", "retired")


class DeviceStore(Base):
    """A store (SQLite file) a device's records were numbered in, known by the tag every boot id of it starts with.

    ``current``: the store whose batches are taken; ``conflict``: a store met while the hub held records of another
    one (its batches are refused until an operator resolves it); ``retired``: replaced. A resolved store carries
    ``bases``: its records are taken only above them, once the terminal renumbered them."""

    __tablename__ = "device_stores"

    device_id: Mapped[str] = mapped_column(sa.ForeignKey("devices.id"), primary_key=True)
    tag: Mapped[str] = mapped_column(sa.String(STORE_TAG_LEN), primary_key=True)
    store_id: Mapped[str | None] = mapped_column(sa.String(STORE_ID_LEN))
    state: Mapped[str] = mapped_column(sa.String(16))
    first_seen_at: Mapped[float]
    last_seen_at: Mapped[float]
    resolved_at: Mapped[float | None]
    resolved_by: Mapped[str | None] = mapped_column(sa.String(64))
    bases: Mapped[dict[str, Any] | None] = mapped_column(Json)


class DeviceKey(Base):
    """A key a device rotated away from, with the signed rotation message that retired it (self-proving: the old
    key's signature and the new key's proof of possession)."""

    __tablename__ = "device_keys"
    __table_args__ = (sa.Index(None, "device_id", "kid"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    device_id: Mapped[str] = mapped_column(sa.ForeignKey("devices.id"))
    kid: Mapped[str] = mapped_column(sa.String(KID_HEX_LEN))
    public_key: Mapped[bytes] = mapped_column(sa.LargeBinary(MAX_PUBLIC_KEY_BYTES))
    retired_at: Mapped[float]
    replaced_by: Mapped[str] = mapped_column(sa.String(KID_HEX_LEN))
    """The kid of the key that replaced it."""
    command_id: Mapped[str | None] = mapped_column(sa.String(COMMAND_ID_LEN))
    rotation: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
