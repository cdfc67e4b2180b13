"""The decode benchmark runs end to end on a handful of frames and reports every engine (never a speed)."""

from __future__ import annotations

import io

from rich.console import Console

from tests.bench.bench_decode import ENGINES, SIZES, main


def test_bench_runs_and_reports_every_engine() -> None:
    out = io.StringIO()
    report = main(["--frames", "6", "--empty", "2", "--seed", "3"], console=Console(file=out, width=160))
    assert report.frames == 6
    assert set(report.reads) == {*ENGINES, "union"}
    assert all(0 <= n <= report.reads["union"] <= 6 for n in (report.reads[e] for e in ENGINES))
    assert report.reads["ours"] >= report.reads["zxing"]
    assert set(report.median_ms) == set(ENGINES)
    assert set(report.empty_ms) == {f"{w}x{h}" for w, h in SIZES}
    assert all(ms > 0 for by_engine in report.empty_ms.values() for ms in by_engine.values())
    assert set(report.ratios) == {"reads ours/zxing"} | {f"empty {w}x{h} ms ours/zxing" for w, h in SIZES}
    printed = out.getvalue()
    for word in ("ours", "zxing", "pyzbar", "union", "reads ours/zxing", "empty 1280x720 ms ours/zxing"):
        assert word in printed
