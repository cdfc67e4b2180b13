"""The verify benchmark runs end to end: a tiny run yields a row per case and a stage breakdown (never a speed)."""

from __future__ import annotations

import io

from rich.console import Console

from tests.bench.bench_verify import BACK_TO_BACK, DECISION, STAGES, main


def test_bench_runs_and_reports_every_case() -> None:
    out = io.StringIO()
    report = main(["--seconds", "0.05", "--rids", "1000"], console=Console(file=out, width=160))
    assert [row.name for row in report.rows] == ["GP1 ES256", "GP1 EdDSA", "HC1 ES256"]
    for row in report.rows:
        assert row.decisions_per_s > 0
        assert row.verifies_per_s > 0
        assert row.ratio > 0
    assert {(s.case, s.stage) for s in report.stages} == {
        (row.name, stage) for row in report.rows for stage in (*STAGES, BACK_TO_BACK, DECISION)
    }
    assert all(s.us > 0 for s in report.stages)
    printed = out.getvalue()
    for name in ("GP1 ES256", "GP1 EdDSA", "HC1 ES256", "ratio", "base45", "revocation lookup"):
        assert name in printed
