"""Terminal identity over time: the stores a device's sequence numbers came from, and the keys it rotated away from.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    """Create ``device_stores`` and ``device_keys``."""
    op.create_table(
        "device_stores",
        sa.Column("device_id", sa.String(64), nullable=False),
        sa.Column("tag", sa.String(8), nullable=False),
        sa.Column("store_id", sa.String(32), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("first_seen_at", sa.Double(), nullable=False),
        sa.Column("last_seen_at", sa.Double(), nullable=False),
        sa.Column("resolved_at", sa.Double(), nullable=True),
        sa.Column("resolved_by", sa.String(64), nullable=True),
        sa.Column("bases", JSON, nullable=True),
        sa.ForeignKeyConstraint(["device_id"], ["devices.id"], name="fk_device_stores_device_id_devices"),
        sa.PrimaryKeyConstraint("device_id", "tag", name="pk_device_stores"),
    )
    op.create_table(
        "device_keys",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("device_id", sa.String(64), nullable=False),
        sa.Column("kid", sa.String(16), nullable=False),
        sa.Column("public_key", sa.LargeBinary(512), nullable=False),
        sa.Column("retired_at", sa.Double(), nullable=False),
        sa.Column("replaced_by", sa.String(16), nullable=False),
        sa.Column("command_id", sa.String(64), nullable=True),
        sa.Column("rotation", sa.LargeBinary(), nullable=True),
        sa.ForeignKeyConstraint(["device_id"], ["devices.id"], name="fk_device_keys_device_id_devices"),
        sa.PrimaryKeyConstraint("id", name="pk_device_keys"),
    )
    op.create_index("ix_device_keys_device_id_kid", "device_keys", ["device_id", "kid"])


def downgrade() -> None:
    """Drop ``device_keys`` and ``device_stores``."""
    op.drop_index("ix_device_keys_device_id_kid", table_name="device_keys")
    op.drop_table("device_keys")
    op.drop_table("device_stores")
