"""What is still waiting to sync, for the handheld's screen: counts per stream, images left, the newest incidents.

Reads through a store connection of its own (the page's threads share it under a lock); never writes.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from typing import Any

from device.store import DeviceStore
from protocol.topics import Stream

WAITING_SHOWN = 20
"""Unacknowledged incidents listed on the screen at most (the counts cover them all)."""


@dataclass(frozen=True, slots=True)
class WaitingIncident:
    """One incident not yet stored at the hub (no note text on the list: it may be long; category and place)."""

    seq: int
    at: float
    category: str
    grid_cell: str
    has_position: bool
    photos: int


class BacklogView:
    """Counts and the list of waiting incidents."""

    def __init__(self, store: DeviceStore) -> None:
        self.store = store
        self._lock = threading.Lock()

    def summary(self) -> dict[str, Any]:
        """JSON-ready: per-stream backlog, images not confirmed, the newest waiting incidents."""
        with self._lock:
            counts = {stream.value: self.store.backlog(stream) for stream in Stream}
            images, image_bytes = self.store.image_backlog()
            acked = self.store.acked_upto(Stream.INCIDENTS)
            rows = self.store.incidents(after=acked, limit=WAITING_SHOWN, newest_first=True)
        waiting = [
            WaitingIncident(seq, r.at, r.category, r.grid_cell or "", r.lat is not None, len(r.photos))
            for seq, r in rows
        ]
        return {
            "streams": counts,
            "images": {"count": images, "bytes": image_bytes},
            "total": sum(counts.values()) + images,
            "incidents": [asdict(w) for w in waiting],
        }
