"""The summary of a demo or drill run: computed from counts taken at each place (never copied from one another),
rendered for a person (ten seconds to read) and as the one JSON line of ``shared/spec/summary.md``."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from protocol.reasons import Decision

SeqSets = Mapping[str, frozenset[int]]
"""Per device: the scan-event sequence numbers held at one place."""


@dataclass(frozen=True)
class PlaceCounts:
    """What one place (terminals, hub or district) holds of the scan-event stream."""

    seqs: SeqSets
    rows: int
    """Rows stored: more than the distinct (device, seq) pairs means something was stored twice."""

    @property
    def distinct(self) -> int:
        """Distinct (device, seq) events."""
        return sum(len(s) for s in self.seqs.values())

    @property
    def doubled(self) -> int:
        """Rows beyond the distinct events."""
        return self.rows - self.distinct


@dataclass(frozen=True)
class RunFacts:
    """Everything the summary is made of."""

    seed: int
    terminals: int
    decisions: Counter[str]
    reasons: Counter[str]
    at_terminals: PlaceCounts
    at_hub: PlaceCounts
    at_district: PlaceCounts
    faults: int = 0
    catch_up_s: float | None = None
    revocation_propagation_s: float | None = None
    unexpected: int = 0
    """Decisions whose reason was not the one expected for the person who showed the code."""
    extra: dict[str, Any] = field(default_factory=dict)


def lost(at_terminals: PlaceCounts, at_district: PlaceCounts) -> int:
    """Events committed on a terminal that the district does not hold."""
    return sum(len(seqs - at_district.seqs.get(device, frozenset())) for device, seqs in at_terminals.seqs.items())


def summary_json(facts: RunFacts) -> dict[str, Any]:
    """The machine-readable summary (keys of shared/spec/summary.md first, then more)."""
    return {
        "seed": facts.seed,
        "terminals": facts.terminals,
        "decisions": {d.value: facts.decisions.get(d.value, 0) for d in Decision},
        "events": {
            "terminals": facts.at_terminals.distinct,
            "hub": facts.at_hub.distinct,
            "district": facts.at_district.distinct,
        },
        "lost": lost(facts.at_terminals, facts.at_district),
        "doubled": facts.at_hub.doubled + facts.at_district.doubled,
        "faults": facts.faults,
        "catch_up_s": round(facts.catch_up_s, 2) if facts.catch_up_s is not None else None,
        "revocation_propagation_s": (
            round(facts.revocation_propagation_s, 2) if facts.revocation_propagation_s is not None else None
        ),
        "unexpected": facts.unexpected,
        **facts.extra,
    }


def summary_lines(facts: RunFacts) -> list[str]:
    """The summary for a person: a few lines, the verdict first."""
    data = summary_json(facts)
    ok = data["lost"] == 0 and data["doubled"] == 0 and facts.unexpected == 0
    events = data["events"]
    decisions = data["decisions"]
    lines = [
        ("[bold green]ALL GOOD[/]" if ok else "[bold red]PROBLEMS[/]")
        + f": lost {data['lost']}, doubled {data['doubled']}, unexpected decisions {facts.unexpected}",
        f"decisions on {facts.terminals} terminals: "
        + ", ".join(f"{name} {count}" for name, count in decisions.items()),
        f"scan events: terminals {events['terminals']} = hub {events['hub']} = district {events['district']}"
        if events["terminals"] == events["hub"] == events["district"]
        else f"scan events: terminals {events['terminals']}, hub {events['hub']}, district {events['district']}",
    ]
    lines.extend(
        f"{stream}: terminals {held['terminals']}, hub {held['hub']}, district {held['district']}"
        for stream in ("incidents", "snapshots")
        if isinstance(held := data.get(stream), dict)
    )
    if data["catch_up_s"] is not None:
        lines.append(f"catch-up after the outage: {data['catch_up_s']:.1f} s")
    if data["revocation_propagation_s"] is not None:
        lines.append(f"revocation to every terminal: {data['revocation_propagation_s']:.1f} s (issued offline)")
    if facts.faults:
        lines.append(f"faults injected: {facts.faults}")
    return lines
