"""Counting scan events where they are: in each terminal's SQLite, in the hub's database, at the district center.

Each count is taken at its own place, never copied from another (shared/spec/summary.md).
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from demo.summary import PlaceCounts

HTTP_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class TerminalTally:
    """One terminal's own view: the event numbers it committed, its decisions and reasons."""

    device_id: str
    seqs: frozenset[int]
    """Scan events committed."""
    other: dict[str, frozenset[int]]
    """Incidents and snapshots committed, by stream."""
    decisions: Counter[str]
    reasons: Counter[str]
    by_rid: dict[str, Counter[str]]
    """Reasons by the rid (hash) of the pass shown, so the demo can tell what each person got."""


def read_terminal(device_id: str, database: Path) -> TerminalTally:
    """Read a terminal's store (read-only; the terminal may still be running)."""
    empty = TerminalTally(device_id, frozenset(), {}, Counter(), Counter(), {})
    if not database.exists():
        return empty  # never started (or its disk was full before it could make its store): it committed nothing
    conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=10)
    try:
        if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'streams'").fetchone() is None:
            return empty  # being created right now: nothing committed yet
        committed = {name: int(next_seq) - 1 for name, next_seq in conn.execute("SELECT name, next_seq FROM streams")}
        decisions: Counter[str] = Counter()
        reasons: Counter[str] = Counter()
        by_rid: dict[str, Counter[str]] = {}
        for decision, reason, rid in conn.execute("SELECT decision, reason, rid FROM events"):
            decisions[decision] += 1
            reasons[reason] += 1
            by_rid.setdefault(rid or "", Counter())[reason] += 1
    finally:
        conn.close()
    # Every number handed out was committed with its row in the same transaction (device/store.py), and nothing is
    # pruned in a run this short: the committed events are 1..next_seq-1.
    numbers = {name: frozenset(range(1, count + 1)) for name, count in committed.items()}
    events = numbers.pop("events", frozenset())
    return TerminalTally(device_id, events, numbers, decisions, reasons, by_rid)


def at_terminals(tallies: Iterable[TerminalTally], stream: str = "events") -> PlaceCounts:
    """The terminals' records of one stream as one place."""
    seqs = {t.device_id: t.seqs if stream == "events" else t.other.get(stream, frozenset()) for t in tallies}
    return PlaceCounts(seqs, sum(len(s) for s in seqs.values()))


HUB_QUERIES = {
    "events": "SELECT device_id, seq FROM events WHERE stream = 'events'",
    "incidents": "SELECT device_id, seq FROM incidents",
    "snapshots": "SELECT device_id, seq FROM snapshots",
}


def at_hub(database_url: str, stream: str = "events") -> PlaceCounts:
    """Records of one stream stored at the hub, read from its database."""
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text(HUB_QUERIES[stream])).all()
    finally:
        engine.dispose()
    seqs: dict[str, set[int]] = {}
    for device_id, seq in rows:
        seqs.setdefault(str(device_id), set()).add(int(seq))
    return PlaceCounts({d: frozenset(s) for d, s in seqs.items()}, len(rows))


def at_district(url: str, token: str, stream: str = "events") -> PlaceCounts:
    """Records of one stream the district center stored and verified, from its API."""
    headers = {"Authorization": f"Bearer {token}"}
    response = httpx.get(f"{url}/v1/{stream}/seqs", headers=headers, timeout=HTTP_TIMEOUT_S)
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    seqs = {device: frozenset(_expand(ranges)) for device, ranges in body["devices"].items()}
    return PlaceCounts(seqs, int(body["rows"]))


def _expand(ranges: list[list[int]]) -> Iterable[int]:
    for first, last in ranges:
        yield from range(int(first), int(last) + 1)
