"""Terminal store: what a durable event costs, per durability setting, next to a bare sqlite3 insert.

Run: ``python -m tests.bench.bench_store [--events N] [--dir PATH]`` (use a directory on the SD card on a Pi).
Prints, for synchronous=FULL (what the store uses) and NORMAL, the commit latency p50/p99 of
``DeviceStore.record_event`` next to a bare ``INSERT`` + ``COMMIT`` through sqlite3 with the same settings on the
same disk, and the ratio. No figure is asserted.
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table
from sqlite_utils import Database

from device.store import DeviceStore, ScanEvent

EVENT = ScanEvent(at=1.8e9, time_source="ntp", decision="pass", reason="ok", kind="GP1", iss="CN-ZJ-HZ",
                  status="green", rid="ab" * 16, latency_ms=12.0)  # fmt: skip


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def _ours(path: Path, synchronous: str, events: int) -> list[float]:
    conn = sqlite3.connect(str(path), check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    store = DeviceStore(Database(conn))
    boot = store.start_boot()
    samples = []
    for _ in range(events):
        started = time.perf_counter()
        store.record_event(boot, EVENT)
        samples.append((time.perf_counter() - started) * 1000)
    conn.close()
    return samples


def _bare(path: Path, synchronous: str, events: int) -> list[float]:
    conn = sqlite3.connect(str(path), isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute("CREATE TABLE e (seq INTEGER PRIMARY KEY, at REAL, decision TEXT, reason TEXT, rid TEXT)")
    samples = []
    for _ in range(events):
        started = time.perf_counter()
        conn.execute("BEGIN")
        conn.execute("INSERT INTO e (at, decision, reason, rid) VALUES (?, ?, ?, ?)", (1.8e9, "pass", "ok", "ab" * 16))
        conn.execute("COMMIT")
        samples.append((time.perf_counter() - started) * 1000)
    conn.close()
    return samples


def main(argv: list[str] | None = None) -> list[dict[str, float | str]]:
    """Run the benchmark; returns the rows it printed."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument(
        "--dir", type=Path, default=None, help="Directory on the disk to measure (default: a temp dir)."
    )
    args = parser.parse_args(argv)
    rows: list[dict[str, float | str]] = []
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        for synchronous in ("FULL", "NORMAL"):
            ours = _ours(Path(tmp) / f"ours-{synchronous}.db", synchronous, args.events)
            bare = _bare(Path(tmp) / f"bare-{synchronous}.db", synchronous, args.events)
            (o50, o99), (b50, b99) = _percentiles(ours), _percentiles(bare)
            rows.append({"synchronous": synchronous, "ours_p50_ms": o50, "ours_p99_ms": o99, "bare_p50_ms": b50,
                         "bare_p99_ms": b99, "ratio_p50": o50 / b50 if b50 else float("nan")})  # fmt: skip
    table = Table(title=f"durable event commit, {args.events} events (ours = DeviceStore.record_event)")
    for column in ("synchronous", "ours p50 ms", "ours p99 ms", "bare sqlite3 p50 ms", "bare p99 ms", "ours/bare p50"):
        table.add_column(column)
    figures = ("ours_p50_ms", "ours_p99_ms", "bare_p50_ms", "bare_p99_ms")
    for row in rows:
        cells = [f"{float(row[k]):.3f}" for k in figures]
        table.add_row(str(row["synchronous"]), *cells, f"{float(row['ratio_p50']):.2f}x")
    Console(width=120).print(table)
    return rows


if __name__ == "__main__":
    main()
