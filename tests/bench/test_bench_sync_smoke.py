"""The sync benchmark runs end to end with tiny numbers and reports every figure (structure only, never speed)."""

from __future__ import annotations

from tests.bench.bench_sync import main

EVENTS = 600


def test_bench_sync_reports_the_drain_and_the_ingest_on_both_databases() -> None:
    rows = main(["--events", str(EVENTS), "--postgres"])
    assert [(row["figure"], row["case"]) for row in rows] == [
        ("drain", f"{EVENTS} events, batch 200, window 4"),
        ("hub ingest", "sqlite, 1 worker(s)"),
        ("hub ingest", "sqlite, 3 worker(s)"),
        ("hub ingest", "postgresql, 1 worker(s)"),
        ("hub ingest", "postgresql, 3 worker(s)"),
    ]
    drain = rows[0]
    assert drain["ours_backlog"] == drain["reference_backlog"] == 0
    assert drain["ours_hub_stored"] == drain["reference_hub_stored"] == EVENTS
    for row in rows:
        assert float(row["ours_events_s"]) > 0
        assert float(row["reference_events_s"]) > 0
        assert float(row["ratio"]) > 0
    for row in rows[1:]:
        assert "refused 0" in str(row["notes"])
        assert f"stored {EVENTS}," in str(row["notes"])
