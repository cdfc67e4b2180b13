"""Basic figures for the dashboard's front page and ``GET /api/v1/stats``; every count read from stored rows."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from hub.operations.errors import translated
from hub.operations.fleet import status_counts
from hub.storage.engine import Target, reading
from hub.storage.ingest import refusal_counts
from hub.storage.models import Presence
from hub.storage.queries import event_counts, events_per_decision
from hub.storage.relay import pending_relay_count


@dataclass(frozen=True, slots=True)
class Stats:
    """Fleet, ingest and relay figures."""

    devices: dict[str, int]
    online: int
    events: int
    events_by_decision: dict[str, int]
    refusals: dict[str, int]
    relay_pending: int


def refusals_by_reason(target: Target) -> dict[str, int]:
    """Refused messages by reason, over every device."""
    totals: dict[str, int] = {}
    for count in refusal_counts(target):
        totals[count.reason] = totals.get(count.reason, 0) + count.count
    return dict(sorted(totals.items()))


def stats(target: Target) -> Stats:
    """The figures, each from its table."""
    with translated():
        with reading(target) as conn:
            online = int(
                conn.execute(
                    sa.select(sa.func.count()).select_from(Presence).where(Presence.connected.is_(True))
                ).scalar_one()
            )
        return Stats(
            status_counts(target),
            online,
            event_counts(target).distinct,
            events_per_decision(target),
            refusals_by_reason(target),
            pending_relay_count(target),
        )
