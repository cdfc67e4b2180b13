"""``gridpass demo``, first stage: a district issues passes, signs its lists, and a checkpoint decides each one.

Everything is made on the spot with the district tools and real keys; nothing is a fixture. Later stages grow
this into the whole system (broker, hub, terminals, an outage and the catch-up).
"""

from __future__ import annotations

import json
import random
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from cli.verify import qr_texts_in
from district import dcc
from district.keyfiles import keygen, read_private
from district.ledger import RevocationLedger
from district.passes import issue, qr_image
from protocol.codec import b45encode, cbor_dumps, deflate
from protocol.cose import encode_sign1
from protocol.decision import ListFreshness, decide
from protocol.dsc import DccType
from protocol.gp1 import PassStatus, claims_of, encode_credential
from protocol.keys import Alg, PrivateKey, kid_of_public_key
from protocol.reasons import Decision
from protocol.revocation import HeldLists, parse_revocation_update
from protocol.trustlist import TrustedIssuer, build_trust_list, parse_trust_list

HOUR_S = 3600
DAY_S = 24 * HOUR_S
MAX_LIST_AGE_S = 72 * HOUR_S
DISTRICT_LIST = "CN-SH-PD"


@dataclass(frozen=True, slots=True)
class Case:
    """One person at the checkpoint: what they show and what the checkpoint should do."""

    who: str
    shows: str
    text: str
    expect: str
    """A reason (``ok``, ``revoked``...) or, where several reasons are right, a decision (``invalid``)."""
    stale_lists: bool = False


def _scan_printout(text: str) -> str:
    """Render the code as a printout would carry it and read it back with zxing-cpp, as a camera would."""
    found = qr_texts_in(qr_image(text))
    return found[0] if found else ""


def build_cases(workdir: Path, rng: random.Random, now: int) -> tuple[list[Case], bytes, list[bytes], Path]:
    """Keys, passes, a trust list and a revocation; returns the cases, the trust list, updates and the root."""
    ids: Callable[[], bytes] = lambda: rng.randbytes(16)  # noqa: E731 - a seeded source of pass and holder ids
    root_path = keygen(workdir, "root", Alg.EDDSA)[0]
    hz_path = keygen(workdir, "issuer-hz", Alg.ES256)[0]
    sh_path = keygen(workdir, "issuer-sh", Alg.EDDSA)[0]
    rogue_path = keygen(workdir, "rogue", Alg.ES256)[0]
    root, hz, sh, rogue = (read_private(p) for p in (root_path, hz_path, sh_path, rogue_path))
    issuers = [
        TrustedIssuer.for_key(hz.public_key(), "CN-ZJ-HZ", nbf=now - DAY_S, exp=now + 365 * DAY_S),
        TrustedIssuer.for_key(sh.public_key(), "CN-SH-PD", nbf=now - DAY_S, exp=now + 365 * DAY_S),
    ]
    dsc = dcc.make_dsc(dcc.generate_dcc_key(Alg.ES256), not_before=now - DAY_S, not_after=now + 365 * DAY_S)
    trust = build_trust_list(root, seq=1, ts=now, issuers=issuers, dscs=[dsc.der])
    traveller = dcc.issue(dsc, DccType.VACCINATION, iat=now - DAY_S, exp=now + 180 * DAY_S)

    # Passes run until local midnight; the demo may run just after one, so today's passes get a full day instead.
    today = now + DAY_S

    def gp1(key: PrivateKey, status: PassStatus, iss: str, iat: int = now - HOUR_S, exp: int = today) -> str:
        return issue(key, iss=iss, status=status, iat=iat, exp=exp, hid=ids(), cti=ids()).qr_text

    green_hz = gp1(hz, PassStatus.GREEN, "CN-ZJ-HZ")
    revoked = issue(hz, iss="CN-ZJ-HZ", status=PassStatus.GREEN, iat=now - HOUR_S, exp=today, hid=ids(), cti=ids())
    ledger = RevocationLedger(workdir / "ledger", DISTRICT_LIST)
    ledger.publish(root, ts=now - 2 * HOUR_S, add=[rng.randbytes(16) for _ in range(1000)])
    update = ledger.publish(root, ts=now - 60, add=[revoked.holder_rid]).document
    updates = [p.read_bytes() for p in sorted(ledger.updates.glob("*.cose"), key=lambda p: int(p.stem))]
    if update != updates[-1]:
        raise RuntimeError("the ledger did not keep the update it just published")

    forged_claims = claims_of(
        issue(hz, iss="CN-ZJ-HZ", status=PassStatus.GREEN, iat=now, cti=ids(), hid=ids()).health_pass
    )
    forged = encode_credential("GP1:", cbor_dumps(forged_claims), rogue)
    # A forgery that names the real issuer's key id but is signed with another key.

    impostor = "GP1:" + b45encode(
        deflate(encode_sign1(cbor_dumps(forged_claims), rogue, kid=kid_of_public_key(hz.public_key())))
    )
    middle = len(green_hz) // 2
    tampered = green_hz[:middle] + ("A" if green_hz[middle] != "A" else "B") + green_hz[middle + 1 :]
    yesterday = now - DAY_S
    cases = [
        Case("commuter", "green pass (Hangzhou, ES256)", green_hz, "ok"),
        Case("resident", "green pass (Pudong, EdDSA)", gp1(sh, PassStatus.GREEN, "CN-SH-PD"), "ok"),
        Case("visitor", "paper printout of a green pass", _scan_printout(gp1(sh, PassStatus.GREEN, "CN-SH-PD")), "ok"),
        Case("close contact", "yellow pass", gp1(hz, PassStatus.YELLOW, "CN-ZJ-HZ"), "status_yellow"),
        Case("confirmed case", "red pass", gp1(sh, PassStatus.RED, "CN-SH-PD"), "status_red"),
        Case(
            "late worker",
            "yesterday's pass",
            gp1(hz, PassStatus.GREEN, "CN-ZJ-HZ", iat=yesterday - HOUR_S, exp=yesterday),
            "expired",
        ),
        Case(
            "early bird",
            "pass dated an hour ahead",
            gp1(hz, PassStatus.GREEN, "CN-ZJ-HZ", iat=now + HOUR_S),
            "not_yet_valid",
        ),
        Case("turned red at noon", "green pass, holder revoked", revoked.qr_text, "revoked"),
        Case("forger", "pass signed by an unknown key", forged, "unknown_kid"),
        Case("impostor", "pass naming Hangzhou's key, other signature", impostor, "bad_signature"),
        Case("tamperer", "green pass with one character changed", tampered, "invalid"),
        Case("traveller", "EU digital COVID certificate (HC1)", traveller, "ok"),
        Case("passer-by", "a shop's QR code", "https://shop.example/menu", "bad_prefix"),
        Case(
            "commuter, remote gate", "green pass; gate offline for four days", green_hz, "lists_stale", stale_lists=True
        ),
    ]
    return cases, trust, updates, root_path


def run(*, seed: int, as_json: bool) -> int:
    """Run the demo; returns the exit code (0 when every decision is the expected one)."""
    console = Console(stderr=as_json, width=None if Console().is_terminal else 132)
    rng = random.Random(seed)  # noqa: S311 - seeded on purpose: the same seed shows the same people
    now = int(time.time())
    with tempfile.TemporaryDirectory(prefix="gridpass-demo-") as tmp:
        workdir = Path(tmp)
        with console.status("district: making keys, passes, a trust list and a revocation"):
            cases, trust_doc, updates, root_path = build_cases(workdir, rng, now)
        root_public = read_private(root_path).public_key()
        trust = parse_trust_list(trust_doc, root_public)
        held = HeldLists()
        for document in updates:
            held = held.apply(parse_revocation_update(document, root_public))
    table = Table(title=f"gridpass demo: one checkpoint, {len(cases)} people (seed {seed})")
    for column in ("#", "who", "shows", "expected", "decision", "reason", ""):
        table.add_column(column)
    decisions: Counter[str] = Counter()
    mismatches = 0
    started = time.perf_counter()
    for number, case in enumerate(cases, 1):
        age = 4 * DAY_S if case.stale_lists else now - min(trust.ts, held.oldest_ts() or now)
        verdict = decide(
            case.text, trust=trust, revocations=held, now=now, freshness=ListFreshness(age, MAX_LIST_AGE_S)
        )
        decisions[verdict.decision.value] += 1
        right = case.expect in (verdict.reason.value, verdict.decision.value)
        mismatches += not right
        colour = {Decision.PASS: "green", Decision.CHECK: "yellow"}.get(verdict.decision, "red")
        table.add_row(
            str(number),
            case.who,
            case.shows,
            case.expect,
            f"[{colour}]{verdict.decision.value}[/]",
            verdict.reason.value,
            "[green]✓[/]" if right else "[red]✗ unexpected[/]",
        )
    elapsed_ms = (time.perf_counter() - started) * 1000
    console.print(table)
    console.print(
        f"{len(cases)} decisions in {elapsed_ms:.1f} ms; revocation list {DISTRICT_LIST} at version "
        f"{held.lists[DISTRICT_LIST].seq} with {len(held.lists[DISTRICT_LIST])} entries; "
        + ("[green]every decision as expected[/]" if not mismatches else f"[red]{mismatches} unexpected[/]")
    )
    if as_json:
        summary = {
            "seed": seed,
            "terminals": 0,
            "decisions": {d.value: decisions[d.value] for d in Decision},
            "events": {"terminals": 0, "hub": 0, "district": 0},
            "lost": 0,
            "doubled": 0,
            "faults": 0,
            "catch_up_s": 0.0,
            "revocation_propagation_s": 0.0,
            "cases": len(cases),
            "unexpected": mismatches,
        }
        print(json.dumps(summary))
    return 0 if not mismatches else 1
