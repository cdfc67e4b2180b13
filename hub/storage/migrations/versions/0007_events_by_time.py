"""An index on scan events by time, for the dashboard's last-hour counts and hourly statistics at 2,000 terminals.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Covering index: time first, then what the counts group by (measured: tests/bench/bench_dashboard.py)."""
    op.create_index("ix_events_at_device_id_decision_stream", "events", ["at", "device_id", "decision", "stream"])


def downgrade() -> None:
    """Drop it."""
    op.drop_index("ix_events_at_device_id_decision_stream", table_name="events")
