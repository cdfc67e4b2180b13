"""District relay: parked batches, the devices registered at the district, the relay's lease.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Create the relay's tables."""
    op.create_table(
        "relay_parked",
        sa.Column("outbox_id", ID, nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("http_status", sa.Integer(), nullable=True),
        sa.Column("detail", sa.String(256), nullable=True),
        sa.Column("parked_at", sa.Double(), nullable=False),
        sa.ForeignKeyConstraint(["outbox_id"], ["relay_outbox.id"], name="fk_relay_parked_outbox_id_relay_outbox"),
        sa.PrimaryKeyConstraint("outbox_id", name="pk_relay_parked"),
    )
    op.create_table(
        "relay_devices",
        sa.Column("device_id", sa.String(64), nullable=False),
        sa.Column("registered_at", sa.Double(), nullable=True),
        sa.Column("decommission_sent_at", sa.Double(), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_attempt_at", sa.Double(), server_default="0", nullable=False),
        sa.Column("last_error", sa.String(256), nullable=True),
        sa.ForeignKeyConstraint(["device_id"], ["devices.id"], name="fk_relay_devices_device_id_devices"),
        sa.PrimaryKeyConstraint("device_id", name="pk_relay_devices"),
    )
    op.create_table(
        "relay_lease",
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("holder", sa.String(64), nullable=False),
        sa.Column("expires_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_relay_lease"),
    )


def downgrade() -> None:
    """Drop the relay's tables (parked marks and registration state with them; the outbox stays)."""
    for table in ("relay_lease", "relay_devices", "relay_parked"):
        op.drop_table(table)
