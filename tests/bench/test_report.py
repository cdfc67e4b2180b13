"""The benchmark report: adapters turn each bench's own rows into figures, a failing bench is a row, the markdown
carries the header and the columns. (The benches' own speed is never looked at.)"""

from __future__ import annotations

import io
import math
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console

from tests.bench import bench_revocation_store, bench_verify
from tests.bench.report import (
    BENCHES,
    COLUMNS,
    FAILED,
    Bench,
    Figure,
    figures_dashboard,
    figures_fleet,
    figures_generic,
    figures_motion,
    figures_revocation_store,
    figures_scan_latency,
    figures_store,
    figures_sync,
    figures_verify,
    markdown,
    parse_quantity,
    run,
    run_one,
    select,
    unlisted,
)


def test_the_ratio_is_ours_over_the_reference_and_absent_without_one() -> None:
    assert Figure("c", "f", "", 3.0, 2.0, "ms").ratio == 1.5
    assert math.isnan(Figure("c", "f", "", 3.0, float("nan"), "ms").ratio)
    assert math.isnan(Figure("c", "f", "", 3.0, 0.0, "ms").ratio)
    assert Figure("c", "f", "", 3.0, float("nan"), "ms").cells()[4:7] == ("-", "ms", "")


def test_verify_rows_become_decisions_next_to_bare_verifies() -> None:
    report = bench_verify.Report([bench_verify.Row("GP1 EdDSA", 900.0, 1800.0)], [], 1000)
    [figure] = figures_verify(report)
    assert (figure.capability, figure.case, figure.ours, figure.reference, figure.ratio) == (
        "verify", "GP1 EdDSA", 900.0, 1800.0, 0.5)  # fmt: skip


def test_revocation_rows_pair_with_the_set_or_the_target() -> None:
    row = bench_revocation_store.Row
    rows = [
        row(1000, "lookup p50", "2.0 us"),
        row(1000, "lookup p99", "8.0 us", "50 us"),
        row(1000, "10k delta apply", "250 ms", "1 s", "store.apply"),
        row(1000, "merge", "0.50 s"),
        row(1000, "set: lookup p50", "0.50 us", "", "reference"),
        row(1000, "set: lookup p99", "-", "", "skipped above 500"),
    ]
    figures = {f.figure: f for f in figures_revocation_store(rows)}
    assert set(figures) == {"lookup p50", "lookup p99", "10k delta apply", "merge"}
    assert (figures["lookup p50"].reference, figures["lookup p50"].ratio) == (0.5, 4.0)
    assert math.isnan(figures["lookup p99"].reference)  # the set was skipped: no reference, not the target
    assert "skipped" in figures["lookup p99"].notes
    assert figures["10k delta apply"].reference == 1000.0  # 1 s in ms
    assert "target" in figures["10k delta apply"].notes
    assert math.isnan(figures["merge"].reference)


def test_dict_row_benches_map_their_keys() -> None:
    store = figures_store([{"synchronous": "FULL", "ours_p50_ms": 2.0, "ours_p99_ms": 4.0, "bare_p50_ms": 1.0,
                            "bare_p99_ms": 2.0, "ratio_p50": 2.0}])  # fmt: skip
    assert [(f.figure, f.ratio) for f in store] == [("event commit p50", 2.0), ("event commit p99", 2.0)]
    sync = figures_sync([{"figure": "drain", "case": "600 events", "ours_events_s": 500.0, "reference": "raw",
                          "reference_events_s": 1000.0, "ratio": 0.5, "notes": "n"}])  # fmt: skip
    assert (sync[0].figure, sync[0].ratio, sync[0].unit) == ("drain", 0.5, "events/s")
    latency = figures_scan_latency({"decisions": 3.0, "people": 3.0, "dropped_frames": 0.0, "latency_p50_ms": 20.0,
                                    "latency_p99_ms": 40.0, "frame_interval_ms": 33.3, "bare_zxing_p50_ms": 10.0,
                                    "goal_ms": 43.3})  # fmt: skip
    assert [f.ratio for f in latency] == [2.0, 40.0 / 43.3]
    motion = figures_motion({
        "motion": [{"size": "640x480", "ours_p50_ms": 2.0, "ours_p99_ms": 3.0, "bare_p50_ms": 1.0, "bare_p99_ms": 1.5,
                    "ratio_p50": 2.0, "quiet_frames": 3.0, "ours_false": 0.0, "bare_false": 1.0}],
        "encode": [{"size": "640x480", "quality": 85.0, "ours_p50_ms": 5.0, "bare_p50_ms": 4.0, "ratio_p50": 1.25,
                    "bytes": 40000.0, "raw_bytes": 921600.0}],
    })  # fmt: skip
    assert [(f.figure, f.ratio) for f in motion] == [("detect p50", 2.0), ("detect p99", 2.0),
                                                      ("JPEG encode p50", 1.25)]  # fmt: skip
    dashboard = figures_dashboard([{"backend": "sqlite", "page": "site view", "rows": 30, "ours_p50_ms": 8.0,
                                    "ours_p99_ms": 12.0, "ref_p50_ms": 2.0, "ref_p99_ms": 3.0, "ratio": 4.0,
                                    "budget": "yes", "notes": "n"}])  # fmt: skip
    assert [(f.figure, f.ratio) for f in dashboard] == [("site view p50", 4.0), ("site view p99", 4.0)]
    fleet = figures_fleet([{"figure": "hub CPU", "case": "30 terminals", "ours": 6.0, "reference": 2.0,
                            "unit": "CPU s", "reference_name": "raw", "ratio": 3.0, "notes": "n"}])  # fmt: skip
    assert (fleet[0].capability, fleet[0].ratio, fleet[0].notes) == ("fleet", 3.0, "ref: raw; n")


def test_generic_rows_need_ours_and_a_reference() -> None:
    [figure] = figures_generic([{"figure": "page", "ours": 3.0, "reference": 1.5, "unit": "ms"}])
    assert figure.ratio == 2.0
    for bad in ({"rows": 1}, [{"ours": 1.0}]):
        with pytest.raises(TypeError, match="no adapter"):
            figures_generic(bad)


@given(st.floats(min_value=0, max_value=1e9, allow_nan=False), st.sampled_from(["us", "ms", "s", "MB"]))
def test_quantities_round_trip(value: float, unit: str) -> None:
    parsed = parse_quantity(f"{value:.3f} {unit}")
    assert parsed is not None
    assert parsed[1] == unit
    assert math.isclose(parsed[0], round(value, 3), rel_tol=1e-9, abs_tol=1e-9)


@given(st.text(max_size=40))
def test_any_text_parses_or_is_refused(text: str) -> None:
    parsed = parse_quantity(text)
    assert parsed is None or (parsed[0] >= 0 and parsed[1].isalpha())


def test_unknown_benches_are_refused_and_every_bench_module_is_listed_or_named() -> None:
    assert [b.name for b in select(["store", "verify"])] == ["verify", "store"]  # the report's order
    with pytest.raises(ValueError, match="unknown bench nope"):
        select(["nope"])
    on_disk = {p.stem.removeprefix("bench_") for p in Path(__file__).parent.glob("bench_*.py")}
    assert on_disk == {b.name for b in BENCHES} | set(unlisted())


def test_a_failing_bench_is_a_failed_row_and_the_others_still_run(tmp_path: Path) -> None:
    out = io.StringIO()
    console = Console(file=out, width=200)
    broken = run_one(Bench("no_such_thing", (), (), figures_generic), quick=True, console=console)
    assert broken.error is not None and "ModuleNotFoundError" in broken.error
    assert [(f.capability, f.figure) for f in broken.figures] == [("no_such_thing", FAILED)]
    outcomes = run(["store"], quick=True, output=tmp_path / "bench.md", console=console)
    text = (tmp_path / "bench.md").read_text()
    assert outcomes[0].error is None and len(outcomes[0].figures) == 4
    assert "| " + " | ".join(COLUMNS) + " |" in text
    page = markdown([broken, *outcomes], quick=True)
    assert f"| no_such_thing | **{FAILED}** |" in page
    assert "terminal store" in out.getvalue()
