"""Incidents, snapshots and the images they carry (resumable chunks).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _fk(table: str, columns: list[str], referred: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        columns, [f"{referred}.{c}" for c in columns], name=f"fk_{table}_{columns[0]}_{referred}"
    )


def _record_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("device_id", sa.String(64), nullable=False),
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("boot", sa.String(32), nullable=False),
        sa.Column("at", sa.Double(), nullable=False),
        sa.Column("time_source", sa.String(16), nullable=False),
    ]


def upgrade() -> None:
    """Create the tables of incidents, snapshots, images and their chunks."""
    op.create_table(
        "incidents",
        *_record_columns(),
        sa.Column("category", sa.String(64), nullable=False),
        sa.Column("note", sa.String(1000), nullable=False),
        sa.Column("lat", sa.Double(), nullable=True),
        sa.Column("lon", sa.Double(), nullable=True),
        sa.Column("accuracy_m", sa.Double(), nullable=True),
        sa.Column("grid_cell", sa.String(64), nullable=True),
        sa.Column("photos", sa.Integer(), nullable=False),
        sa.Column("received_at", sa.Double(), nullable=False),
        sa.Column("batch_id", ID, nullable=False),
        sa.ForeignKeyConstraint(["batch_id"], ["batches.id"], name="fk_incidents_batch_id_batches"),
        sa.ForeignKeyConstraint(["device_id"], ["devices.id"], name="fk_incidents_device_id_devices"),
        sa.PrimaryKeyConstraint("device_id", "seq", name="pk_incidents"),
    )
    op.create_index("ix_incidents_at", "incidents", ["at"])
    op.create_table(
        "incident_photos",
        sa.Column("device_id", sa.String(64), nullable=False),
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("position", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("image_sha256", sa.String(64), nullable=False),
        _fk("incident_photos", ["device_id", "seq"], "incidents"),
        sa.PrimaryKeyConstraint("device_id", "seq", "position", name="pk_incident_photos"),
    )
    op.create_table(
        "snapshots",
        *_record_columns(),
        sa.Column("camera", sa.String(64), nullable=False),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("image_sha256", sa.String(64), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("received_at", sa.Double(), nullable=False),
        sa.Column("batch_id", ID, nullable=False),
        sa.ForeignKeyConstraint(["batch_id"], ["batches.id"], name="fk_snapshots_batch_id_batches"),
        sa.ForeignKeyConstraint(["device_id"], ["devices.id"], name="fk_snapshots_device_id_devices"),
        sa.PrimaryKeyConstraint("device_id", "seq", name="pk_snapshots"),
    )
    op.create_index("ix_snapshots_at", "snapshots", ["at"])
    op.create_table(
        "images",
        sa.Column("device_id", sa.String(64), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("content_type", sa.String(32), nullable=False),
        sa.Column("have", sa.Integer(), server_default="0", nullable=False),
        sa.Column("complete", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("chunks", sa.Integer(), server_default="0", nullable=False),
        sa.Column("restarts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("completed_at", sa.Double(), nullable=True),
        sa.ForeignKeyConstraint(["device_id"], ["devices.id"], name="fk_images_device_id_devices"),
        sa.PrimaryKeyConstraint("device_id", "sha256", name="pk_images"),
    )
    op.create_index("ix_images_sha256", "images", ["sha256"])
    op.create_table(
        "image_chunks",
        sa.Column("device_id", sa.String(64), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("start", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("length", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        _fk("image_chunks", ["device_id", "sha256"], "images"),
        sa.PrimaryKeyConstraint("device_id", "sha256", "start", name="pk_image_chunks"),
    )


def downgrade() -> None:
    """Drop them again (children first)."""
    op.drop_table("image_chunks")
    op.drop_index("ix_images_sha256", table_name="images")
    op.drop_table("images")
    op.drop_index("ix_snapshots_at", table_name="snapshots")
    op.drop_table("snapshots")
    op.drop_table("incident_photos")
    op.drop_index("ix_incidents_at", table_name="incidents")
    op.drop_table("incidents")
