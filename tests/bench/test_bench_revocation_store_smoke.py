"""The revocation store bench still runs end to end and reports every row (its structure, never its speed)."""

from __future__ import annotations

from tests.bench.bench_revocation_store import METRICS, main


def test_bench_reports_every_metric_at_a_tiny_size() -> None:
    rows = main(["--entries", "20000", "--lookups", "2000"])
    assert [row.metric for row in rows] == list(METRICS)
    assert all(row.entries == 20_000 and row.value not in ("", "-") for row in rows)


def test_the_set_reference_is_skipped_above_its_limit() -> None:
    rows = main(["--entries", "3000", "--lookups", "200", "--reference-max", "1000"])
    skipped = [row for row in rows if row.metric.startswith("set:")]
    assert len(skipped) == 3 and all(row.value == "-" and "skipped" in row.note for row in skipped)
