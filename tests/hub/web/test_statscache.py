"""Settled hours come from memory, hours still filling are counted every time, a late backlog shows after the TTL."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.engine import Engine

from hub.storage.stats import HOUR_S, HourlyCount, Window
from hub.web.statscache import HourlyStatsCache

H0 = 1_800_000_000 // HOUR_S * HOUR_S


def _counter(store: dict[int, int], calls: list[tuple[float, float]]) -> Callable[..., list[HourlyCount]]:
    def count(_engine: Engine, window: Window, site: str | None) -> list[HourlyCount]:
        calls.append((window.since, window.until))
        return [HourlyCount(site or "S", h, "pass", n) for h, n in sorted(store.items())
                if window.since <= h < window.until]  # fmt: skip

    return count


def test_only_unsettled_hours_are_counted_again() -> None:
    store = {H0 + i * HOUR_S: i + 1 for i in range(6)}
    calls: list[tuple[float, float]] = []
    cache = HourlyStatsCache(_counter(store, calls), settled_s=900, ttl_s=600)
    engine = object()
    now = H0 + 5 * HOUR_S + 100  # hour 5 is filling; hour 4 ended 100 s ago: not settled
    window = Window(H0, H0 + 6 * HOUR_S)
    first = cache.hourly(engine, window, site=None, now=now)  # type: ignore[arg-type]
    assert [r.count for r in first] == [1, 2, 3, 4, 5, 6]
    assert calls == [(H0, H0 + 6 * HOUR_S)]
    store[H0] = 100  # a late backlog in a settled hour
    store[H0 + 5 * HOUR_S] = 60
    second = cache.hourly(engine, window, site=None, now=now + 10)  # type: ignore[arg-type]
    assert [r.count for r in second] == [1, 2, 3, 4, 5, 60]
    assert calls[1:] == [(H0 + 4 * HOUR_S, H0 + 6 * HOUR_S)]
    third = cache.hourly(engine, window, site=None, now=now + 700)  # type: ignore[arg-type] # past the TTL
    assert third[0].count == 100
    assert cache.queries == 3
    cache.clear()
    cache.hourly(engine, window, site="other", now=now + 700)  # type: ignore[arg-type]
    assert calls[-1] == (H0, H0 + 6 * HOUR_S)


def test_cached_hours_are_kept_per_site_filter() -> None:
    store = {H0: 3}
    calls: list[tuple[float, float]] = []
    cache = HourlyStatsCache(_counter(store, calls))
    window = Window(H0, H0 + HOUR_S)
    now = H0 + 5 * HOUR_S
    assert cache.hourly(object(), window, site="A", now=now)[0].site == "A"  # type: ignore[arg-type]
    assert cache.hourly(object(), window, site="B", now=now)[0].site == "B"  # type: ignore[arg-type]
    assert len(calls) == 2
