"""The dashboard benchmark runs with tiny numbers and reports every page next to its reference (structure only)."""

from __future__ import annotations

from tests.bench.bench_dashboard import main


def test_bench_dashboard_reports_every_page_with_its_reference() -> None:
    rows = main(["--terminals", "30", "--events", "600", "--repeat", "3"])
    assert [row["page"] for row in rows] == [
        "site view", "device list", "statistics, 24 h", "statistics, 24 h, cold",
    ]  # fmt: skip
    assert rows[0]["rows"] == 30
    for row in rows:
        assert row["backend"] == "sqlite"
        assert float(row["ours_p50_ms"]) > 0  # type: ignore[arg-type]
        assert float(row["ref_p50_ms"]) > 0  # type: ignore[arg-type]
        assert float(row["ratio"]) > 0  # type: ignore[arg-type]
