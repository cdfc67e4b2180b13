"""The demo's district: real keys and lists, each person's expected reason, and the rid a terminal will record."""

from __future__ import annotations

import random
from pathlib import Path

from demo.people import make_district, script_for
from district.ledger import RevocationLedger
from protocol.decision import decide
from protocol.keys import load_public_key_pem
from protocol.revocation import HeldLists, parse_revocation_update
from protocol.trustlist import parse_trust_list

NOW = 1_800_000_000


def test_every_person_gets_the_expected_reason_and_the_revocation_flips_one(tmp_path: Path) -> None:
    district = make_district(tmp_path, random.Random(7), NOW)
    root = load_public_key_pem(district.root_public.read_bytes())
    trust = parse_trust_list(district.trust_list.read_bytes(), root)

    def held() -> HeldLists:
        lists = HeldLists()
        for path in sorted(
            RevocationLedger(district.ledger, "CN-SH-PD").updates.glob("*.cose"), key=lambda p: int(p.stem)
        ):
            lists = lists.apply(parse_revocation_update(path.read_bytes(), root))
        return lists

    before = {p.who: decide(p.text, trust=trust, revocations=held(), now=NOW) for p in district.people}
    for person in district.people:
        verdict = before[person.who]
        allowed = person.expect.split("|")
        assert verdict.reason.value in allowed or verdict.decision.value in allowed, person.who
        assert person.rid == (verdict.rid.hex() if verdict.rid else None)
    assert before["turned red at noon"].reason.value == "ok"
    assert district.revoke_later(ts=NOW + 60) == 2
    after = decide(district.to_revoke.qr_text, trust=trust, revocations=held(), now=NOW + 120)
    assert after.reason.value == "revoked"


def test_a_script_shows_everyone_once_then_draws_more(tmp_path: Path) -> None:
    district = make_district(tmp_path, random.Random(1), NOW)
    lines = script_for(district.people, random.Random(2), len(district.people) + 5).splitlines()
    assert len(lines) == len(district.people) + 5
    texts = {line.split("\t", 1)[1] for line in lines}
    assert {p.text for p in district.people} <= texts
    assert all(line.split("\t", 1)[0] in ("phone", "paper") for line in lines)
