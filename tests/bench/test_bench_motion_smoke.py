"""The motion benchmark runs at a tiny size and reports every row (structure only, never speed)."""

from __future__ import annotations

from tests.bench.bench_motion import QUALITIES, SIZES, main


def test_bench_motion_reports_both_sizes_and_every_quality() -> None:
    rows = main(["--frames", "6", "--repeat", "1"])
    assert [row["size"] for row in rows["motion"]] == [f"{w}x{h}" for w, h in SIZES]
    assert all(float(row["ours_p50_ms"]) > 0 and float(row["bare_p50_ms"]) > 0 for row in rows["motion"])
    assert [row["quality"] for row in rows["encode"]] == [float(q) for _ in SIZES for q in QUALITIES]
    sizes = [float(row["bytes"]) for row in rows["encode"][: len(QUALITIES)]]
    assert sizes == sorted(sizes) and sizes[0] > 0
