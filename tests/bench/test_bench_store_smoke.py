"""The store benchmark runs and reports both settings (structure only, never speed)."""

from __future__ import annotations

from tests.bench.bench_store import main


def test_bench_store_reports_both_durability_settings() -> None:
    rows = main(["--events", "20"])
    assert [row["synchronous"] for row in rows] == ["FULL", "NORMAL"]
    assert all(float(row["ours_p50_ms"]) > 0 and float(row["bare_p50_ms"]) > 0 for row in rows)
