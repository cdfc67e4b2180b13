"""Live updates of the dashboard over server-sent events (``GET /web/events``).

Each tick sends one ``counts`` event: the decisions of the last hour (all sites and per site), devices per presence
group, and the presence group of every device whose group changed since the previous tick (all of them on the
first). Bounded: a stream ends after ``max_s`` (the browser's ``EventSource`` reconnects after ``retry_ms``), a
client that goes away ends it at once (Starlette cancels the generator on disconnect), and the figures of one tick
are computed once for all the screens watching (``SnapshotCache``), not once per screen.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool

from hub.storage import stats
from hub.web.svg import PRESENCE_LABELS

LIVE_INTERVAL_S = 5.0
"""How often a screen gets new figures."""
LIVE_MAX_S = 600.0
"""How long one event stream lasts before the browser reconnects (bounds a forgotten tab's hold on the hub)."""
LIVE_RETRY_MS = 3000
COUNT_WINDOW_S = 3600.0
"""The counts are of the last hour."""


@dataclass(frozen=True, slots=True)
class LiveSettings:
    """Timing of the live updates (tests make them short)."""

    interval_s: float = LIVE_INTERVAL_S
    max_s: float = LIVE_MAX_S
    retry_ms: int = LIVE_RETRY_MS


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The figures of one tick."""

    at: float
    total: dict[str, int]
    sites: dict[str, dict[str, int]]
    presence: dict[str, int]
    devices: dict[str, str]


def take_snapshot(engine: Engine, now: float) -> Snapshot:
    """Read the figures (three aggregate queries and one narrow one)."""
    window = stats.Window.last(COUNT_WINDOW_S, now=now)
    by_site = stats.decision_counts_by_site(engine, window)
    total = stats.DecisionCounts(
        {d: sum(c[d] for c in by_site.values()) for d in {k for c in by_site.values() for k in c.counts}}
    )
    return Snapshot(
        at=now,
        total=total.as_dict(),
        sites={site: counts.as_dict() for site, counts in by_site.items()},
        presence=stats.presence_counts(engine),
        devices=stats.presence_keys(engine),
    )


class SnapshotCache:
    """One snapshot per ``max_age_s`` for every screen (thread-safe; the reads run in the threadpool)."""

    def __init__(self, take: Callable[[], Snapshot], clock: Callable[[], float], max_age_s: float) -> None:
        self._take = take
        self._clock = clock
        self._max_age_s = max_age_s
        self._lock = threading.Lock()
        self._held: Snapshot | None = None
        self._taken_at = 0.0

    def get(self) -> Snapshot:
        """The held snapshot if recent enough, else a fresh one."""
        with self._lock:
            now = self._clock()
            if self._held is None or not 0 <= now - self._taken_at < self._max_age_s:
                self._held = self._take()
                self._taken_at = now
            return self._held


def frame(event: str, data: dict[str, Any]) -> str:
    """One server-sent event (JSON data on one line)."""
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'), sort_keys=True)}\n\n"


def tick_payload(snapshot: Snapshot, previous: dict[str, str] | None) -> dict[str, Any]:
    """What one tick sends: every figure, and the devices whose group changed since ``previous``."""
    devices = snapshot.devices
    if previous is not None:
        devices = {device: key for device, key in devices.items() if previous.get(device) != key}
    return {
        "at": snapshot.at,
        "total": snapshot.total,
        "sites": snapshot.sites,
        "presence": snapshot.presence,
        "devices": devices,
        "labels": dict(PRESENCE_LABELS),
    }


async def stream(
    snapshot: Callable[[], Snapshot],
    settings: LiveSettings,
    *,
    monotonic: Callable[[], float],
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> AsyncIterator[str]:
    """The events of one screen, until ``settings.max_s`` has passed."""
    started = monotonic()
    previous: dict[str, str] | None = None
    yield f"retry: {settings.retry_ms}\n\n"
    while True:
        current = await run_in_threadpool(snapshot)
        yield frame("counts", tick_payload(current, previous))
        previous = current.devices
        if monotonic() - started + settings.interval_s > settings.max_s:
            return
        await sleep(settings.interval_s)
