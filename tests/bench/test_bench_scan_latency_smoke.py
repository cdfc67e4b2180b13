"""The latency benchmark runs end to end on a few people (structure only, never speed)."""

from __future__ import annotations

from tests.bench.bench_scan_latency import main


def test_bench_scan_latency_reports_its_figures() -> None:
    figures = main(["--people", "3", "--fps", "30", "--size", "vga"])
    assert figures["decisions"] >= 1
    assert figures["latency_p99_ms"] >= figures["latency_p50_ms"] >= 0
    assert figures["goal_ms"] > figures["frame_interval_ms"]
