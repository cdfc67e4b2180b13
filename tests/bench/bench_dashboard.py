"""Dashboard benchmark: how long the site view, the device list and the statistics page take to serve at 2,000
terminals and 200,000 scan events, next to a bare FastAPI endpoint returning as many rows as JSON.

Run: ``python -m tests.bench.bench_dashboard [--terminals N] [--events N] [--repeat N] [--postgres]`` (builds its
own hub database in a temporary directory and, with ``--postgres``, a throwaway PostgreSQL; nothing else).

Each page is requested through the whole app (session cookie checked, queries, Jinja2, SVG) in-process over ASGI
(Starlette's TestClient), ``--repeat`` times after two warm-up requests; the figure is p50 and p99 in ms. The
reference, measured in the same run on the same database, is a bare FastAPI endpoint without login or templates
that selects as many rows as the page shows (terminals for the site view and list, hourly groups for the statistics)
and returns them as JSON. The statistics page keeps settled hours in memory (``hub.web.statscache``): its warm
figure is what a screen sees, and the row ``statistics, cold`` counts a day's events from scratch every time.
No figure is asserted; the issue's budget (300 ms a page) is printed beside each.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from rich.console import Console
from rich.table import Table
from sqlalchemy.engine import Engine

from hub.api.services import HubServices
from hub.storage import stats
from hub.web.statscache import HourlyStatsCache
from tests.hub.web.conftest import PASSWORD, Hub, make_hub
from tests.hub.web.fleet import NOW, FleetSize, populate

BUDGET_MS = 300.0
"""The issue's budget for serving a page at 2,000 terminals."""
WARMUP = 2
Row = dict[str, object]


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return statistics.median(ordered), p99


def _time(call: Callable[[], object], repeat: int) -> tuple[float, float]:
    for _ in range(WARMUP):
        call()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        samples.append((time.perf_counter() - start) * 1000)
    return _percentiles(samples)


def reference_app(engine: Engine) -> FastAPI:
    """A bare FastAPI app: no login, no templates; one select of ``n`` rows returned as JSON."""
    app = FastAPI()

    @app.get("/ref/devices")
    def devices(n: int) -> list[dict[str, Any]]:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text(
                    "SELECT d.id, d.status, d.site, d.grid_cell, p.state, p.firmware FROM devices d "
                    "LEFT JOIN presence p ON p.device_id = d.id ORDER BY d.site, d.grid_cell, d.id LIMIT :n"
                ),
                {"n": n},
            ).all()
        return [dict(row._mapping) for row in rows]

    @app.get("/ref/events")
    def events(n: int) -> list[dict[str, Any]]:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT device_id, seq, at, decision FROM events LIMIT :n"), {"n": n}).all()
        return [dict(row._mapping) for row in rows]

    return app


def _login(client: TestClient) -> None:
    response = client.post("/web/login", data={"username": "vic", "password": PASSWORD}, follow_redirects=False)
    if response.status_code != 303:
        raise RuntimeError(f"login failed: {response.status_code}")


def _get(client: TestClient, path: str) -> Callable[[], object]:
    def call() -> object:
        response = client.get(path)
        if response.status_code != 200:
            raise RuntimeError(f"{path}: {response.status_code}")
        return response

    return call


@contextmanager
def _hub(backend: str, directory: Path, stack: ExitStack) -> Iterator[Hub]:
    if backend == "sqlite":
        directory.mkdir(parents=True, exist_ok=True)
        hub = make_hub(f"sqlite:///{directory / 'hub.db'}")
    else:
        from tests.services.postgres import throwaway_cluster

        cluster = stack.enter_context(throwaway_cluster())
        hub = make_hub(cluster.url())
    try:
        yield hub
    finally:
        hub.engine.dispose()


DROP_INDEX = f"DROP INDEX {stats.EVENTS_AT_INDEX}"
"""Migration 0007 makes the index on ``events (at, device_id, decision, stream)``; ``--no-index`` drops it to show
what it is worth."""


def measure(backend: str, size: FleetSize, repeat: int, directory: Path, *, index: bool = True) -> list[Row]:
    """Every figure on one database (``index`` False: without the index on ``events`` of migration 0007)."""
    rows: list[Row] = []
    with ExitStack() as stack, _hub(backend, directory, stack) as hub:
        started = time.perf_counter()
        populate(hub.engine, size)
        engine = hub.engine
        with engine.begin() as conn:
            if not index:
                conn.exec_driver_sql(DROP_INDEX)
            conn.exec_driver_sql("ANALYZE")
        built_s = time.perf_counter() - started
        backend = backend if index else f"{backend}, no index"
        fleet_rows = len(stats.fleet(engine))
        window = stats.Window.hours(24, now=NOW)
        hourly_rows = len(stats.hourly_counts(engine, window))
        app = hub.app(HubServices(engine, hub.clock, publisher=hub.publisher))
        with TestClient(app, base_url="http://127.0.0.1") as client, TestClient(reference_app(engine)) as bare:
            _login(client)
            pages = (
                ("site view", "/web/", f"/ref/devices?n={fleet_rows}", fleet_rows),
                ("device list", "/web/devices", f"/ref/devices?n={fleet_rows}", fleet_rows),
                ("statistics, 24 h", "/web/stats?hours=24", f"/ref/events?n={hourly_rows}", hourly_rows),
            )
            for name, path, reference, count in pages:
                ours = _time(_get(client, path), repeat)
                ref = _time(_get(bare, reference), repeat)
                rows.append(_row(backend, name, count, ours=ours, ref=ref, note=f"db built in {built_s:.0f}s"))

            def cold() -> object:
                cache = getattr(app.state, "gridpass_hourly_cache", None)
                if isinstance(cache, HourlyStatsCache):
                    cache.clear()
                return _get(client, "/web/stats?hours=24")()

            ours = _time(cold, max(3, repeat // 3))
            ref = _time(_get(bare, f"/ref/events?n={hourly_rows}"), repeat)
            rows.append(
                _row(backend, "statistics, 24 h, cold", hourly_rows, ours=ours, ref=ref, note="every hour counted anew")
            )
    return rows


def _row(backend: str, page: str, count: int, *, ours: tuple[float, float], ref: tuple[float, float], note: str) -> Row:
    return {
        "backend": backend, "page": page, "rows": count, "ours_p50_ms": ours[0], "ours_p99_ms": ours[1],
        "ref_p50_ms": ref[0], "ref_p99_ms": ref[1], "ratio": ours[0] / ref[0] if ref[0] > 0 else float("inf"),
        "budget": "ok" if ours[1] <= BUDGET_MS else "over", "notes": note,
    }  # fmt: skip


def main(argv: list[str] | None = None) -> list[Row]:
    """Run the benchmark and print its table; the rows, for the smoke test."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--terminals", type=int, default=2000, help="Terminals in the generated hub.")
    parser.add_argument("--events", type=int, default=200_000, help="Scan events over the last 24 hours.")
    parser.add_argument("--repeat", type=int, default=30, help="Timed requests per page.")
    parser.add_argument("--postgres", action="store_true", help="Also measure on a throwaway PostgreSQL.")
    parser.add_argument("--no-index", action="store_true", help="Also measure without the index on events (0007).")
    args = parser.parse_args(argv)
    size = FleetSize(args.terminals, args.events)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="gridpass-bench-dashboard-") as tmp:
        backends = ["sqlite", "postgresql"] if args.postgres else ["sqlite"]
        for backend in backends:
            rows.extend(measure(backend, size, args.repeat, Path(tmp) / backend))
            if args.no_index:
                rows.extend(measure(backend, size, args.repeat, Path(tmp) / f"{backend}-no-index", index=False))
    table = Table(title=f"dashboard pages, {args.terminals} terminals, {args.events} events (no figure is asserted)")
    for column in (
        "db",
        "page",
        "rows",
        "ours p50/p99 ms",
        "bare FastAPI p50/p99 ms",
        "ours/ref",
        "<= 300 ms",
        "notes",
    ):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(
            str(row["backend"]), str(row["page"]), str(row["rows"]),
            f"{float(row['ours_p50_ms']):.1f} / {float(row['ours_p99_ms']):.1f}",  # type: ignore[arg-type]
            f"{float(row['ref_p50_ms']):.1f} / {float(row['ref_p99_ms']):.1f}",  # type: ignore[arg-type]
            f"{float(row['ratio']):.1f}x", str(row["budget"]), str(row["notes"]),  # type: ignore[arg-type]
        )  # fmt: skip
    Console(width=170).print(table)
    return rows


if __name__ == "__main__":
    main()
