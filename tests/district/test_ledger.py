"""The revocation ledger: versions chain, deltas are exact, and a crash before the commit point loses nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from district.ledger import LedgerError, RevocationLedger
from protocol.keys import Alg, generate_private_key
from protocol.revocation import HeldLists, RevocationSet, parse_revocation_update

ROOT = generate_private_key(Alg.EDDSA)


def rid(n: int) -> bytes:
    return n.to_bytes(16, "big")


def test_first_publish_is_a_snapshot_then_deltas(tmp_path: Path) -> None:
    ledger = RevocationLedger(tmp_path, "CN-SH-PD")
    first = ledger.publish(ROOT, ts=100, add=[rid(1), rid(2)])
    second = ledger.publish(ROOT, ts=200, add=[rid(3)], remove=[rid(1)])
    assert (first.seq, first.base, second.seq, second.base) == (1, 0, 2, 1)
    assert (second.added, second.removed, second.entries) == (1, 1, 2)
    held = HeldLists()
    for published in (first, second):
        held = held.apply(parse_revocation_update(published.document, ROOT.public_key()))
    assert rid(1) not in held and rid(2) in held and rid(3) in held
    assert ledger.rids() == {rid(2), rid(3)}


def test_snapshot_lets_a_holder_that_fell_behind_catch_up(tmp_path: Path) -> None:
    ledger = RevocationLedger(tmp_path, "L1")
    first = ledger.publish(ROOT, ts=1, add=[rid(1)])
    for n in range(2, 6):
        ledger.publish(ROOT, ts=n, add=[rid(n)])
    behind = RevocationSet.empty("L1").apply(parse_revocation_update(first.document, ROOT.public_key()))
    caught_up = behind.apply(parse_revocation_update(ledger.snapshot(ROOT, ts=9), ROOT.public_key()))
    assert caught_up.seq == 5 and len(caught_up) == 5


def test_a_crash_before_the_commit_point_leaves_the_previous_version_current(tmp_path: Path) -> None:
    ledger = RevocationLedger(tmp_path, "L1")
    ledger.publish(ROOT, ts=1, add=[rid(1)])
    # What a crash after writing the next version's files but before state.json leaves behind:
    (ledger.versions / "2.rids").write_bytes(rid(1) + rid(2))
    assert ledger.seq == 1 and ledger.rids() == {rid(1)}
    again = ledger.publish(ROOT, ts=2, add=[rid(3)])
    assert again.seq == 2 and ledger.rids() == {rid(1), rid(3)}


def test_a_damaged_ledger_says_so(tmp_path: Path) -> None:
    ledger = RevocationLedger(tmp_path, "L1")
    ledger.publish(ROOT, ts=1, add=[rid(1)])
    (ledger.root / "state.json").write_text("{")
    with pytest.raises(LedgerError, match="damaged"):
        _ = ledger.seq
    (ledger.root / "state.json").write_text(json.dumps({"seq": 1, "ts": 1}))
    (ledger.versions / "1.rids").write_bytes(b"123")
    with pytest.raises(LedgerError, match="whole number"):
        ledger.rids()
    (ledger.versions / "1.rids").unlink()
    with pytest.raises(LedgerError, match="restore"):
        ledger.rids()


def test_snapshot_of_an_empty_ledger_is_refused(tmp_path: Path) -> None:
    with pytest.raises(LedgerError):
        RevocationLedger(tmp_path, "L1").snapshot(ROOT, ts=1)
