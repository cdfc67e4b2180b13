"""Read-only views for operators and the demo/drill summary (``shared/spec/summary.md``).

Every count is counted here from the stored rows, never copied from another count.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from hub.storage.devices import DeviceStatus
from hub.storage.engine import Target, reading
from hub.storage.ingest import StreamProgress
from hub.storage.models import Device, Event, Presence, StreamState
from hub.storage.presence import PRESENCE_COLUMNS, PresenceView, presence_view
from protocol.topics import Stream


@dataclass(frozen=True, slots=True)
class EventCounts:
    """Scan events stored at the hub: rows, and distinct (device, stream, seq); ``doubled`` is the difference."""

    rows: int
    distinct: int

    @property
    def doubled(self) -> int:
        """Events stored more than once (the schema's primary key keeps this at 0)."""
        return self.rows - self.distinct


@dataclass(frozen=True, slots=True)
class DevicePresence:
    """A device with its presence (None: nothing heard yet)."""

    device_id: str
    status: DeviceStatus
    profile: str
    site: str | None
    grid_cell: str | None
    presence: PresenceView | None


def event_counts(target: Target) -> EventCounts:
    """``events.hub`` of the summary (``distinct``) and what would be ``doubled`` at the hub."""
    distinct = sa.select(Event.device_id, Event.stream, Event.seq).distinct().subquery()
    with reading(target) as conn:
        rows = conn.execute(sa.select(sa.func.count()).select_from(Event)).scalar_one()
        unique = conn.execute(sa.select(sa.func.count()).select_from(distinct)).scalar_one()
    return EventCounts(int(rows), int(unique))


def events_per_decision(target: Target) -> dict[str, int]:
    """Stored scan events by decision (``pass``, ``check``, ``deny``, ``invalid``)."""
    with reading(target) as conn:
        rows = conn.execute(
            sa.select(Event.decision, sa.func.count())
            .where(Event.stream == Stream.EVENTS.value)
            .group_by(Event.decision)
            .order_by(Event.decision)
        ).all()
    return {decision: int(count) for decision, count in rows}


def events_per_device(target: Target) -> dict[str, int]:
    """Stored scan events by device."""
    with reading(target) as conn:
        rows = conn.execute(
            sa.select(Event.device_id, sa.func.count())
            .where(Event.stream == Stream.EVENTS.value)
            .group_by(Event.device_id)
            .order_by(Event.device_id)
        ).all()
    return {device: int(count) for device, count in rows}


def devices_with_presence(target: Target) -> list[DevicePresence]:
    """Every device, by id, with what the hub knows of its connection and data."""
    query = (
        sa.select(Device.id, Device.status, Device.profile, Device.site, Device.grid_cell, *PRESENCE_COLUMNS)
        .outerjoin(Presence, Presence.device_id == Device.id)
        .order_by(Device.id)
    )
    with reading(target) as conn:
        rows = conn.execute(query).all()
    result = []
    for row in rows:
        has_presence = row[5] is not None
        result.append(
            DevicePresence(
                row[0],
                DeviceStatus(row[1]),
                row[2],
                row[3],
                row[4],
                presence_view(row[5:]) if has_presence else None,
            )
        )
    return result


def stream_states(target: Target, device_id: str | None = None) -> list[StreamProgress]:
    """Every stream's progress (of one device, or all), by device and stream."""
    query = sa.select(
        StreamState.device_id, StreamState.stream, StreamState.contiguous_upto, StreamState.max_seq,
        StreamState.last_received_at,
    ).order_by(StreamState.device_id, StreamState.stream)  # fmt: skip
    if device_id is not None:
        query = query.where(StreamState.device_id == device_id)
    with reading(target) as conn:
        rows = conn.execute(query).all()
    return [StreamProgress(r[0], Stream(r[1]), int(r[2]), int(r[3]), r[4]) for r in rows]
