"""The hub's first schema: devices, presence, batches and events, stream state, relay outbox, lists, refusals.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
PENDING = sa.text("delivered_at IS NULL")


def _device_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["device_id"], ["devices.id"], name=f"fk_{table}_device_id_devices")


def upgrade() -> None:
    """Create every table."""
    op.create_table(
        "devices",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("public_key", sa.LargeBinary(512), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("profile", sa.String(16), nullable=False),
        sa.Column("site", sa.String(64), nullable=True),
        sa.Column("grid_cell", sa.String(64), nullable=True),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("enrolled_at", sa.Double(), nullable=True),
        sa.Column("decommissioned_at", sa.Double(), nullable=True),
        sa.CheckConstraint("status IN ('pending', 'enrolled', 'decommissioned')", name="ck_devices_status"),
        sa.PrimaryKeyConstraint("id", name="pk_devices"),
    )
    op.create_table(
        "device_boots",
        sa.Column("device_id", sa.String(64), nullable=False),
        sa.Column("boot_id", sa.String(32), nullable=False),
        sa.Column("ordinal", sa.Integer(), nullable=False),
        sa.Column("first_seen_at", sa.Double(), nullable=False),
        _device_fk("device_boots"),
        sa.PrimaryKeyConstraint("device_id", "boot_id", name="pk_device_boots"),
        sa.UniqueConstraint("device_id", "ordinal", name="uq_device_boots_device_id_ordinal"),
    )
    op.create_table(
        "presence",
        sa.Column("device_id", sa.String(64), nullable=False),
        sa.Column("connected", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("state", sa.String(16), nullable=True),
        sa.Column("boot_id", sa.String(32), nullable=True),
        sa.Column("boot_ordinal", sa.Integer(), nullable=True),
        sa.Column("state_at", sa.Double(), nullable=True),
        sa.Column("last_birth_at", sa.Double(), nullable=True),
        sa.Column("last_activity_at", sa.Double(), nullable=True),
        sa.Column("data_currency_at", sa.Double(), nullable=True),
        sa.Column("backlog", JSON, nullable=True),
        sa.Column("firmware", sa.String(64), nullable=True),
        sa.Column("lists", JSON, nullable=True),
        sa.Column("clock", JSON, nullable=True),
        sa.Column("updated_at", sa.Double(), nullable=True),
        sa.CheckConstraint("state IN ('online', 'offline', 'stopped')", name="ck_presence_state"),
        _device_fk("presence"),
        sa.PrimaryKeyConstraint("device_id", name="pk_presence"),
    )
    op.create_table(
        "batches",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("device_id", sa.String(64), nullable=False),
        sa.Column("stream", sa.String(16), nullable=False),
        sa.Column("first_seq", sa.BigInteger(), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("records", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("received_at", sa.Double(), nullable=False),
        sa.Column("cose", sa.LargeBinary(), nullable=False),
        _device_fk("batches"),
        sa.PrimaryKeyConstraint("id", name="pk_batches"),
        sa.UniqueConstraint("sha256", name="uq_batches_sha256"),
    )
    op.create_index("ix_batches_device_id_stream_first_seq", "batches", ["device_id", "stream", "first_seq"])
    op.create_table(
        "events",
        sa.Column("device_id", sa.String(64), nullable=False),
        sa.Column("stream", sa.String(16), nullable=False),
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("boot", sa.String(32), nullable=False),
        sa.Column("at", sa.Double(), nullable=False),
        sa.Column("time_source", sa.String(16), nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(8), nullable=True),
        sa.Column("iss", sa.String(256), nullable=True),
        sa.Column("status", sa.String(64), nullable=True),
        sa.Column("rid", sa.String(32), nullable=True),
        sa.Column("latency_ms", sa.Double(), nullable=True),
        sa.Column("received_at", sa.Double(), nullable=False),
        sa.Column("batch_id", ID, nullable=False),
        sa.ForeignKeyConstraint(["batch_id"], ["batches.id"], name="fk_events_batch_id_batches"),
        _device_fk("events"),
        sa.PrimaryKeyConstraint("device_id", "stream", "seq", name="pk_events"),
    )
    op.create_table(
        "stream_state",
        sa.Column("device_id", sa.String(64), nullable=False),
        sa.Column("stream", sa.String(16), nullable=False),
        sa.Column("contiguous_upto", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("max_seq", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("last_received_at", sa.Double(), nullable=True),
        _device_fk("stream_state"),
        sa.PrimaryKeyConstraint("device_id", "stream", name="pk_stream_state"),
    )
    op.create_table(
        "relay_outbox",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("device_id", sa.String(64), nullable=False),
        sa.Column("stream", sa.String(16), nullable=False),
        sa.Column("batch_id", ID, nullable=False),
        sa.Column("idempotency_key", sa.String(96), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_attempt_at", sa.Double(), nullable=False),
        sa.Column("delivered_at", sa.Double(), nullable=True),
        sa.Column("last_error", sa.String(256), nullable=True),
        sa.ForeignKeyConstraint(["batch_id"], ["batches.id"], name="fk_relay_outbox_batch_id_batches"),
        _device_fk("relay_outbox"),
        sa.PrimaryKeyConstraint("id", name="pk_relay_outbox"),
        sa.UniqueConstraint("batch_id", name="uq_relay_outbox_batch_id"),
        sa.UniqueConstraint("idempotency_key", name="uq_relay_outbox_idempotency_key"),
    )
    op.create_index("ix_relay_outbox_pending", "relay_outbox", ["id"], sqlite_where=PENDING, postgresql_where=PENDING)
    op.create_index(
        "ix_relay_outbox_pending_device",
        "relay_outbox",
        ["device_id", "id"],
        sqlite_where=PENDING,
        postgresql_where=PENDING,
    )
    op.create_table(
        "list_documents",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("list_id", sa.String(64), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("base", sa.BigInteger(), nullable=False),
        sa.Column("ts", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("received_at", sa.Double(), nullable=False),
        sa.Column("document", sa.LargeBinary(), nullable=False),
        sa.CheckConstraint("kind IN ('trust', 'revocation')", name="ck_list_documents_kind"),
        sa.PrimaryKeyConstraint("id", name="pk_list_documents"),
        sa.UniqueConstraint("kind", "list_id", "seq", name="uq_list_documents_kind_list_id_seq"),
    )
    op.create_table(
        "refusals",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("device_id", sa.String(64), nullable=True),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("last_at", sa.Double(), nullable=False),
        _device_fk("refusals"),
        sa.PrimaryKeyConstraint("id", name="pk_refusals"),
    )
    with_device = sa.text("device_id IS NOT NULL")
    without_device = sa.text("device_id IS NULL")
    op.create_index(
        "uq_refusals_device_reason",
        "refusals",
        ["device_id", "reason"],
        unique=True,
        sqlite_where=with_device,
        postgresql_where=with_device,
    )
    op.create_index(
        "uq_refusals_reason_no_device",
        "refusals",
        ["reason"],
        unique=True,
        sqlite_where=without_device,
        postgresql_where=without_device,
    )


def downgrade() -> None:
    """Drop every table (their data with them)."""
    for table in (
        "refusals",
        "list_documents",
        "relay_outbox",
        "stream_state",
        "events",
        "batches",
        "presence",
        "device_boots",
        "devices",
    ):
        op.drop_table(table)
