"""Hourly statistics with the settled hours kept in memory, so the statistics page does not recount a day of events
on every view.

An hour that ended more than ``SETTLED_S`` ago changes only when a terminal's backlog brings old events; its counts
are kept for ``SETTLED_TTL_S`` and then counted again. The hours still filling (the current one and any ended less
than ``SETTLED_S`` ago) are counted on every view. Hours to count are read in one range query per contiguous run.
So a late backlog shows up in an old hour within ``SETTLED_TTL_S``; the live counts (last hour) are never cached.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.engine import Engine

from hub.storage import stats
from hub.storage.stats import HOUR_S, HourlyCount, Window

SETTLED_S = 15 * 60.0
"""An hour is settled this long after it ended."""
SETTLED_TTL_S = 10 * 60.0
"""How long a settled hour's counts are kept before they are counted again."""
MAX_CACHED_HOURS = 24 * 31 * 8
"""At most this many (site filter, hour) entries are kept; past it the oldest are dropped."""


@dataclass(frozen=True, slots=True)
class _Entry:
    rows: tuple[HourlyCount, ...]
    counted_at: float


def _runs(hours: list[int]) -> list[tuple[int, int]]:
    """Contiguous runs of sorted hour starts as (first, end) pairs."""
    runs: list[tuple[int, int]] = []
    for hour in hours:
        if runs and runs[-1][1] == hour:
            runs[-1] = (runs[-1][0], hour + HOUR_S)
        else:
            runs.append((hour, hour + HOUR_S))
    return runs


class HourlyStatsCache:
    """``hourly_counts`` for whole-hour windows, settled hours from memory (thread-safe)."""

    def __init__(
        self,
        count: Callable[[Engine, Window, str | None], list[HourlyCount]] | None = None,
        *,
        settled_s: float = SETTLED_S,
        ttl_s: float = SETTLED_TTL_S,
    ) -> None:
        self._count = count or (lambda engine, window, site: stats.hourly_counts(engine, window, site=site))
        self._settled_s = settled_s
        self._ttl_s = ttl_s
        self._lock = threading.Lock()
        self._entries: dict[tuple[int, str | None, int], _Entry] = {}
        self.queries = 0
        """How many range queries were run (for tests and the benchmark)."""

    def clear(self) -> None:
        """Forget every settled hour."""
        with self._lock:
            self._entries.clear()

    def hourly(self, engine: Engine, window: Window, *, site: str | None, now: float) -> list[HourlyCount]:
        """The counts of every hour of ``window`` (whole UTC hours), by site, hour and decision."""
        first, end = stats.hour_of(window.since), int(window.until)
        hours = list(range(first, end, HOUR_S))
        key = id(engine)
        with self._lock:
            held = {h: self._entries.get((key, site, h)) for h in hours}
        missing = [
            h for h, entry in held.items()
            if entry is None or h + HOUR_S > now - self._settled_s or not 0 <= now - entry.counted_at < self._ttl_s
        ]  # fmt: skip
        fresh: dict[int, list[HourlyCount]] = {h: [] for h in missing}
        for start, stop in _runs(missing):
            self.queries += 1
            for row in self._count(engine, Window(start, stop), site):
                fresh.setdefault(row.hour, []).append(row)
        with self._lock:
            for hour, rows in fresh.items():
                if hour + HOUR_S <= now - self._settled_s:
                    self._entries[(key, site, hour)] = _Entry(tuple(rows), now)
            if len(self._entries) > MAX_CACHED_HOURS:
                for old in sorted(self._entries, key=lambda k: k[2])[: len(self._entries) - MAX_CACHED_HOURS]:
                    del self._entries[old]
        result: list[HourlyCount] = []
        for hour in hours:
            if hour in fresh:
                result.extend(fresh[hour])
            else:
                entry = held[hour]
                assert entry is not None  # noqa: S101 - not missing, so held
                result.extend(entry.rows)
        result.sort(key=lambda r: (r.site, r.hour, r.decision))
        return result
