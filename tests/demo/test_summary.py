"""The summary counts each place on its own: lost is what the terminals committed and the district lacks, doubled is
rows beyond the distinct events; the JSON line has the keys of shared/spec/summary.md."""

from __future__ import annotations

from collections import Counter

from demo.summary import PlaceCounts, RunFacts, lost, summary_json, summary_lines

SPEC_KEYS = [
    "seed", "terminals", "decisions", "events", "lost", "doubled", "faults", "catch_up_s", "revocation_propagation_s",
]  # fmt: skip


def place(rows: int | None = None, **seqs: range) -> PlaceCounts:
    held = {device: frozenset(numbers) for device, numbers in seqs.items()}
    return PlaceCounts(held, rows if rows is not None else sum(len(s) for s in held.values()))


def facts(**overrides: object) -> RunFacts:
    base: dict[str, object] = {
        "seed": 7, "terminals": 2, "decisions": Counter({"pass": 3, "deny": 1}), "reasons": Counter(),
        "at_terminals": place(a=range(1, 4), b=range(1, 2)), "at_hub": place(a=range(1, 4), b=range(1, 2)),
        "at_district": place(a=range(1, 4), b=range(1, 2)), "catch_up_s": 1.234, "revocation_propagation_s": 2.0,
    }  # fmt: skip
    base.update(overrides)
    return RunFacts(**base)  # type: ignore[arg-type]


def test_a_clean_run() -> None:
    data = summary_json(facts())
    assert list(data)[: len(SPEC_KEYS)] == SPEC_KEYS
    assert data["events"] == {"terminals": 4, "hub": 4, "district": 4}
    assert (data["lost"], data["doubled"], data["catch_up_s"]) == (0, 0, 1.23)
    assert data["decisions"] == {"pass": 3, "check": 0, "deny": 1, "invalid": 0}
    lines = summary_lines(facts())
    assert lines[0].startswith("[bold green]ALL GOOD")
    assert "terminals 4 = hub 4 = district 4" in lines[2]


def test_lost_and_doubled_are_counted_where_they_happen() -> None:
    at_district = place(rows=4, a=range(1, 3), b=range(1, 2))  # a's seq 3 missing, one row stored twice
    assert lost(place(a=range(1, 4), b=range(1, 2)), at_district) == 1
    data = summary_json(facts(at_district=at_district, at_hub=place(rows=5, a=range(1, 4), b=range(1, 2))))
    assert (data["lost"], data["doubled"]) == (1, 2)
    assert summary_lines(facts(at_district=at_district))[0].startswith("[bold red]PROBLEMS")


def test_an_event_the_district_holds_from_nowhere_is_not_lost() -> None:
    assert lost(place(a=range(1, 2)), place(a=range(1, 3), c=range(1, 5))) == 0
