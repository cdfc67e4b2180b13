"""The district of the demo: its keys, trust list and revocation ledger, and the people who show up at its
checkpoints with what they show (made on the spot with the district tools and real keys; nothing is a fixture).

Every person carries what the checkpoint should decide. One of them ("turned red at noon") holds a green pass whose
holder the district revokes while the network is down: the checkpoints let them through until the revocation
reaches them, and refuse them after.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from district import dcc
from district.keyfiles import keygen, read_private
from district.ledger import RevocationLedger
from district.passes import IssuedPass, issue
from protocol.codec import b45encode, cbor_dumps, deflate
from protocol.cose import encode_sign1
from protocol.decision import decide
from protocol.dsc import DccType
from protocol.gp1 import PassStatus, claims_of, encode_credential
from protocol.keys import Alg, PrivateKey, kid_of_public_key
from protocol.revocation import HeldLists
from protocol.trustlist import TrustedIssuer, TrustList, build_trust_list, parse_trust_list

HOUR_S = 3600
DAY_S = 24 * HOUR_S
DISTRICT_LIST = "CN-SH-PD"
BACKGROUND_REVOCATIONS = 1000


@dataclass(frozen=True, slots=True)
class Person:
    """One person at a checkpoint: what they show, how (a phone screen or a paper printout), and the expected
    reason or decision (``ok``, ``revoked``; ``invalid`` where several reasons are right)."""

    who: str
    shows: str
    text: str
    look: str
    expect: str
    rid: str | None = None
    """The credential's rid as a terminal records it (hex), to tell afterwards what this person got."""


@dataclass(frozen=True)
class District:
    """What the district tools made: key files, the first lists, the people, and the pass to revoke later."""

    directory: Path
    root_key: Path
    root_public: Path
    trust_list: Path
    ledger: Path
    people: list[Person]
    to_revoke: IssuedPass

    def revoke_later(self, *, ts: int) -> int:
        """Publish the revocation of ``to_revoke``'s holder in the ledger (what ``gridpass district revoke`` does);
        returns the new version."""
        ledger = RevocationLedger(self.ledger, DISTRICT_LIST)
        return ledger.publish(read_private(self.root_key), ts=ts, add=[self.to_revoke.holder_rid]).seq


def make_district(directory: Path, rng: random.Random, now: int) -> District:
    """Keys, passes, a trust list and the ledger's first snapshot."""
    directory.mkdir(parents=True, exist_ok=True)
    ids: Callable[[], bytes] = lambda: rng.randbytes(16)  # noqa: E731 - a seeded source of pass and holder ids
    root_path, root_public = keygen(directory, "root", Alg.EDDSA)[:2]
    hz_path = keygen(directory, "issuer-hz", Alg.ES256)[0]
    sh_path = keygen(directory, "issuer-sh", Alg.EDDSA)[0]
    rogue_path = keygen(directory, "rogue", Alg.ES256)[0]
    root, hz, sh, rogue = (read_private(p) for p in (root_path, hz_path, sh_path, rogue_path))
    issuers = [
        TrustedIssuer.for_key(hz.public_key(), "CN-ZJ-HZ", nbf=now - DAY_S, exp=now + 365 * DAY_S),
        TrustedIssuer.for_key(sh.public_key(), "CN-SH-PD", nbf=now - DAY_S, exp=now + 365 * DAY_S),
    ]
    dsc = dcc.make_dsc(dcc.generate_dcc_key(Alg.ES256), not_before=now - DAY_S, not_after=now + 365 * DAY_S)
    trust_path = directory / "trust-list.cose"
    trust_path.write_bytes(build_trust_list(root, seq=1, ts=now, issuers=issuers, dscs=[dsc.der]))
    traveller = dcc.issue(dsc, DccType.VACCINATION, iat=now - DAY_S, exp=now + 180 * DAY_S)
    today = now + DAY_S  # passes run until local midnight; a demo just before one still gets a whole day

    def gp1(key: PrivateKey, status: PassStatus, iss: str, iat: int = now - HOUR_S, exp: int = today) -> str:
        return issue(key, iss=iss, status=status, iat=iat, exp=exp, hid=ids(), cti=ids()).qr_text

    ledger_dir = directory / "ledger"
    RevocationLedger(ledger_dir, DISTRICT_LIST).publish(
        root, ts=now - 2 * HOUR_S, add=[rng.randbytes(16) for _ in range(BACKGROUND_REVOCATIONS)]
    )
    to_revoke = issue(hz, iss="CN-ZJ-HZ", status=PassStatus.GREEN, iat=now - HOUR_S, exp=today, hid=ids(), cti=ids())
    forged_claims = claims_of(
        issue(hz, iss="CN-ZJ-HZ", status=PassStatus.GREEN, iat=now, cti=ids(), hid=ids()).health_pass
    )
    forged = encode_credential("GP1:", cbor_dumps(forged_claims), rogue)
    impostor = "GP1:" + b45encode(  # names the real issuer's key id, signed with another key
        deflate(encode_sign1(cbor_dumps(forged_claims), rogue, kid=kid_of_public_key(hz.public_key())))
    )
    green_hz = gp1(hz, PassStatus.GREEN, "CN-ZJ-HZ")
    middle = len(green_hz) // 2
    tampered = green_hz[:middle] + ("A" if green_hz[middle] != "A" else "B") + green_hz[middle + 1 :]
    yesterday = now - DAY_S
    people = [
        Person("commuter", "green pass (Hangzhou, ES256)", green_hz, "phone", "ok"),
        Person("resident", "green pass (Pudong, EdDSA)", gp1(sh, PassStatus.GREEN, "CN-SH-PD"), "phone", "ok"),
        Person("visitor", "paper printout of a green pass", gp1(sh, PassStatus.GREEN, "CN-SH-PD"), "paper", "ok"),
        Person("close contact", "yellow pass", gp1(hz, PassStatus.YELLOW, "CN-ZJ-HZ"), "phone", "status_yellow"),
        Person("confirmed case", "red pass, printed", gp1(sh, PassStatus.RED, "CN-SH-PD"), "paper", "status_red"),
        Person("late worker", "yesterday's pass",
               gp1(hz, PassStatus.GREEN, "CN-ZJ-HZ", iat=yesterday - HOUR_S, exp=yesterday), "phone", "expired"),
        Person("turned red at noon", "green pass; holder revoked during the outage", to_revoke.qr_text, "phone",
               "ok|revoked"),
        Person("forger", "pass signed by an unknown key", forged, "phone", "unknown_kid"),
        Person("impostor", "pass naming Hangzhou's key, other signature", impostor, "paper", "bad_signature"),
        Person("tamperer", "green pass with one character changed", tampered, "phone", "invalid"),
        Person("traveller", "EU digital COVID certificate (HC1)", traveller, "phone", "ok"),
        Person("traveller, printed", "EU certificate on paper", traveller, "paper", "ok"),
        Person("passer-by", "a shop's QR code", "https://shop.example/menu", "phone", "bad_prefix"),
    ]  # fmt: skip
    trust = parse_trust_list(trust_path.read_bytes(), root.public_key())
    people = [replace(p, rid=_rid(p.text, trust, now)) for p in people]
    return District(directory, root_path, root_public, trust_path, ledger_dir, people, to_revoke)


def _rid(text: str, trust: TrustList, now: int) -> str | None:
    """The rid a terminal records for ``text``: the decision's own, with no revocations."""
    verdict = decide(text, trust=trust, revocations=HeldLists(), now=now)
    return verdict.rid.hex() if verdict.rid else None


def script_for(people: list[Person], rng: random.Random, count: int) -> str:
    """A checkpoint's synthetic feed script: ``count`` people drawn from ``people`` (each at least once when
    ``count`` allows), one ``look<TAB>text`` line each."""
    chosen = list(people)[: max(0, count)]
    chosen += [rng.choice(people) for _ in range(count - len(chosen))]
    rng.shuffle(chosen)
    return "".join(f"{person.look}\t{person.text}\n" for person in chosen)
