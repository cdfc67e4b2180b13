"""The GP1 decision: one row per reason code of the credentials spec, the order of checks, and no personal data out.

Every row runs for ES256 and EdDSA issuers and for tagged and untagged COSE_Sign1.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import cbor2
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from protocol import gp1
from protocol.codec import b45encode, deflate
from protocol.cose import encode_sign1
from protocol.decision import ClockState, ListFreshness, Verdict, decide
from protocol.keys import Alg, PrivateKey, kid_of_public_key
from protocol.reasons import DECISION_OF, Decision, Reason
from protocol.revocation import HeldLists, RevocationView, holder_rid, pass_rid
from protocol.trustlist import TrustedIssuer, TrustList
from tests.protocol.support import (
    CTI,
    DAY_S,
    GP1_ALGS,
    HID,
    HOUR_S,
    ISS,
    NAME,
    NOW,
    OTHER_ISS,
    b45,
    bomb_text,
    default_trust,
    flip_last_bit,
    hand_sign1,
    health_pass,
    issuer_entry,
    nested,
    pass_body,
    pass_claims,
    qr_text,
    raw_deflate,
    revoked,
    signing_key,
    trust_list,
    without,
)

MAX_AGE_S = 72 * HOUR_S
STALE = ListFreshness(age_s=MAX_AGE_S + 1, max_age_s=MAX_AGE_S)
RED, YELLOW = gp1.PassStatus.RED, gp1.PassStatus.YELLOW
EXP = NOW + HOUR_S
"""The default pass's expiry."""


@dataclass(frozen=True)
class Scan:
    """Everything ``decide`` is given for one scan."""

    text: str
    trust: TrustList
    now: float = NOW
    revocations: RevocationView = field(default_factory=HeldLists)
    clock: ClockState | None = None
    freshness: ListFreshness | None = None

    def decide(self) -> Verdict:
        return decide(
            self.text,
            trust=self.trust,
            revocations=self.revocations,
            now=self.now,
            clock=self.clock,
            freshness=self.freshness,
        )


@dataclass(frozen=True)
class Ctx:
    """One issuer algorithm and one COSE form; builds the scans of the table."""

    alg: Alg
    tagged: bool

    @property
    def key(self) -> PrivateKey:
        return signing_key(self.alg)

    @property
    def other_key(self) -> PrivateKey:
        return signing_key(self.alg, 1)

    @property
    def kid(self) -> bytes:
        return kid_of_public_key(self.key.public_key())

    def entry(self, **changes: Any) -> TrustedIssuer:  # noqa: ANN401
        return replace(issuer_entry(self.key), **changes)

    def text(self, **changes: Any) -> str:  # noqa: ANN401
        """A pass made by the real encoder, with pass fields changed."""
        return gp1.encode_pass(health_pass(**changes), self.key, tagged=self.tagged)

    def cose(self, payload: bytes | None = None, **hand: Any) -> str:  # noqa: ANN401
        """A GP1 text around a hand-made COSE_Sign1 (by default of the default claims)."""
        payload = cbor2.dumps(pass_claims()) if payload is None else payload
        return qr_text(hand_sign1(payload, self.key, tagged=self.tagged, **hand))

    def claims(self, claims: object) -> str:
        """A GP1 text whose (hand-made) claims are ``claims``, correctly signed."""
        return self.cose(cbor2.dumps(claims))

    def body(self, body: object) -> str:
        return self.claims({**pass_claims(), -65537: body})

    def scan(self, text: str | None = None, **given: Any) -> Scan:  # noqa: ANN401
        given.setdefault("trust", default_trust(self.alg))
        return Scan(self.text() if text is None else text, **given)

    def zlib_text(self, transform: Callable[[bytes], bytes]) -> str:
        """A GP1 text whose zlib stream (of a good pass) went through ``transform``."""
        cose = hand_sign1(cbor2.dumps(pass_claims()), self.key, tagged=self.tagged)
        return "GP1:" + b45(transform(zlib.compress(cose)))

    @property
    def protected(self) -> dict[int, Any]:
        return {1: int(self.alg), 4: self.kid}

    def wrap(self, *message: object) -> str:
        """A GP1 text around ``message`` as the COSE array, tagged 18 or not as this context says."""
        return qr_text(cbor2.dumps(cbor2.CBORTag(18, list(message)) if self.tagged else list(message)))

    def cose_sig(self) -> bytes:
        """The correct signature of the default hand-made COSE_Sign1."""
        signature: bytes = cbor2.loads(hand_sign1(cbor2.dumps(pass_claims()), self.key, tagged=False))[3]
        return signature


def _duplicate_iss(claims: dict[Any, Any]) -> bytes:
    pairs = b"".join(cbor2.dumps(k) + cbor2.dumps(v) for k, v in claims.items())
    return bytes([0xA0 + len(claims) + 1]) + pairs + cbor2.dumps(1) + cbor2.dumps(OTHER_ISS)


def _rekeyed(claim: int, *, key: object) -> dict[object, object]:
    """The default claims with ``claim`` moved under ``key`` (a key that compares equal to it in Python)."""
    claims: dict[object, object] = without(pass_claims(), claim)
    claims[key] = pass_claims()[claim]
    return claims


def _int_keyed_body() -> dict[object, object]:
    return {1: 1, **pass_body()}


def _dangling(text: str) -> str:
    """Base45 whose length leaves one character over (a length of 3n + 1 is never valid)."""
    body = text[4:]
    return "GP1:" + body[: len(body) // 3 * 3] + "0"


def _other_signer(c: Ctx) -> str:
    """The right kid and alg, but signed by another key (real encoder)."""
    payload = cbor2.dumps(pass_claims())
    return "GP1:" + b45encode(deflate(encode_sign1(payload, c.other_key, kid=c.kid, tagged=c.tagged)))


def _swapped_payload(c: Ctx) -> str:
    """A signature over one payload sent with another."""
    genuine = hand_sign1(cbor2.dumps(pass_claims()), c.key, tagged=False)
    signature = cbor2.loads(genuine)[3]
    return c.cose(cbor2.dumps(pass_claims(exp=EXP + DAY_S)), signature=signature)


def _detached(c: Ctx) -> str:
    message = cbor2.loads(hand_sign1(cbor2.dumps(pass_claims()), c.key, tagged=False))
    return c.wrap(message[0], {}, None, message[3])


Row = tuple[str, Reason, Callable[[Ctx], Scan]]
ROWS: list[Row] = [
    ("ok", Reason.OK, lambda c: c.scan()),
    ("ok_without_name_and_since", Reason.OK, lambda c: c.scan(c.text(nm=None, since=None))),
    ("ok_at_iat", Reason.OK, lambda c: c.scan(now=NOW - HOUR_S)),
    ("ok_just_before_exp", Reason.OK, lambda c: c.scan(now=EXP - 0.001)),
    ("ok_clock_at_last_trusted", Reason.OK, lambda c: c.scan(clock=ClockState(NOW))),
    ("ok_lists_exactly_max_age", Reason.OK, lambda c: c.scan(freshness=ListFreshness(MAX_AGE_S, MAX_AGE_S))),
    ("ok_unprotected_repeats_kid", Reason.OK, lambda c: c.scan(c.cose(unprotected={4: c.kid}))),
    (
        "ok_rids_of_other_issuer_and_holder",
        Reason.OK,
        lambda c: c.scan(revocations=revoked(pass_rid(OTHER_ISS, CTI), holder_rid(OTHER_ISS, HID), bytes(16))),
    ),
    ("status_yellow", Reason.STATUS_YELLOW, lambda c: c.scan(c.text(status=YELLOW))),
    ("status_yellow_beats_stale", Reason.STATUS_YELLOW, lambda c: c.scan(c.text(status=YELLOW), freshness=STALE)),
    ("lists_stale", Reason.LISTS_STALE, lambda c: c.scan(freshness=STALE)),
    ("status_red", Reason.STATUS_RED, lambda c: c.scan(c.text(status=RED))),
    ("status_red_beats_stale", Reason.STATUS_RED, lambda c: c.scan(c.text(status=RED), freshness=STALE)),
    ("revoked_by_pass_id", Reason.REVOKED, lambda c: c.scan(revocations=revoked(pass_rid(ISS, CTI)))),
    ("revoked_by_holder_id", Reason.REVOKED, lambda c: c.scan(revocations=revoked(holder_rid(ISS, HID)))),
    (
        "revoked_beats_red",
        Reason.REVOKED,
        lambda c: c.scan(c.text(status=RED), revocations=revoked(pass_rid(ISS, CTI))),
    ),
    (
        "revoked_beats_yellow_and_stale",
        Reason.REVOKED,
        lambda c: c.scan(c.text(status=YELLOW), revocations=revoked(holder_rid(ISS, HID)), freshness=STALE),
    ),
    ("expired_at_exp", Reason.EXPIRED, lambda c: c.scan(now=EXP)),
    ("expired_after_exp", Reason.EXPIRED, lambda c: c.scan(now=EXP + DAY_S)),
    (
        "expired_beats_revoked_and_red",
        Reason.EXPIRED,
        lambda c: c.scan(c.text(status=RED), now=EXP, revocations=revoked(pass_rid(ISS, CTI))),
    ),
    ("not_yet_valid", Reason.NOT_YET_VALID, lambda c: c.scan(now=NOW - HOUR_S - 1)),
    (
        "not_yet_valid_beats_revoked",
        Reason.NOT_YET_VALID,
        lambda c: c.scan(now=NOW - DAY_S, revocations=revoked(pass_rid(ISS, CTI))),
    ),
    ("clock_unsynced", Reason.CLOCK_UNSYNCED, lambda c: c.scan(clock=ClockState(NOW + 1))),
    (
        "clock_unsynced_beats_expired_and_red",
        Reason.CLOCK_UNSYNCED,
        lambda c: c.scan(c.text(status=RED), now=EXP, clock=ClockState(EXP + 1)),
    ),
    ("bad_prefix_empty", Reason.BAD_PREFIX, lambda c: c.scan("")),
    ("bad_prefix_lowercase", Reason.BAD_PREFIX, lambda c: c.scan("gp1:" + c.text()[4:])),
    ("bad_prefix_other_version", Reason.BAD_PREFIX, lambda c: c.scan("GP2:" + c.text()[4:])),
    ("bad_prefix_no_colon", Reason.BAD_PREFIX, lambda c: c.scan("GP1" + c.text()[4:])),
    ("bad_prefix_leading_space", Reason.BAD_PREFIX, lambda c: c.scan(" " + c.text())),
    ("bad_base45_empty", Reason.BAD_BASE45, lambda c: c.scan("GP1:")),
    ("bad_base45_lowercase", Reason.BAD_BASE45, lambda c: c.scan("GP1:" + c.text()[4:].lower() + "a")),
    ("bad_base45_dangling_char", Reason.BAD_BASE45, lambda c: c.scan(_dangling(c.text()))),
    ("bad_base45_triple_overflow", Reason.BAD_BASE45, lambda c: c.scan("GP1:" + ":::")),
    ("bad_base45_pair_overflow", Reason.BAD_BASE45, lambda c: c.scan("GP1:" + "::")),
    ("bad_base45_non_ascii", Reason.BAD_BASE45, lambda c: c.scan("GP1:" + "中国人")),
    ("bad_zlib_not_zlib", Reason.BAD_ZLIB, lambda c: c.scan(c.zlib_text(lambda _: b"not zlib at all"))),
    (
        "bad_zlib_raw_deflate",
        Reason.BAD_ZLIB,
        lambda c: c.scan(c.zlib_text(lambda z: raw_deflate(zlib.decompress(z)))),
    ),
    ("bad_zlib_truncated", Reason.BAD_ZLIB, lambda c: c.scan(c.zlib_text(lambda z: z[:-5]))),
    ("bad_zlib_trailing_bytes", Reason.BAD_ZLIB, lambda c: c.scan(c.zlib_text(lambda z: z + b"\x00"))),
    ("bad_zlib_bad_checksum", Reason.BAD_ZLIB, lambda c: c.scan(c.zlib_text(flip_last_bit))),
    ("too_large_text", Reason.TOO_LARGE, lambda c: c.scan(c.text() + "0" * 4096)),
    ("too_large_multibyte_text", Reason.TOO_LARGE, lambda c: c.scan("GP1:" + "中" * 1400)),
    ("too_large_zlib_bomb", Reason.TOO_LARGE, lambda c: c.scan(bomb_text())),
    ("too_large_inflated_payload", Reason.TOO_LARGE, lambda c: c.scan(c.claims({**pass_claims(), 99: "x" * 70_000}))),
    ("bad_cose_a_map", Reason.BAD_COSE, lambda c: c.scan(qr_text(cbor2.dumps(pass_claims())))),
    ("bad_cose_array_of_three", Reason.BAD_COSE, lambda c: c.scan(c.wrap(b"", {}, b""))),
    ("bad_cose_array_of_five", Reason.BAD_COSE, lambda c: c.scan(c.wrap(b"", {}, b"", b"s", 0))),
    (
        "bad_cose_protected_not_bytes",
        Reason.BAD_COSE,
        lambda c: c.scan(c.wrap(c.protected, {}, b"", b"s")),
    ),
    ("bad_cose_unprotected_not_map", Reason.BAD_COSE, lambda c: c.scan(c.cose(unprotected=[4, c.kid]))),
    ("bad_cose_detached_payload", Reason.BAD_COSE, lambda c: c.scan(_detached(c))),
    ("bad_cose_empty_signature", Reason.BAD_COSE, lambda c: c.scan(c.cose(signature=b""))),
    (
        "bad_cose_other_tag",
        Reason.BAD_COSE,
        lambda c: c.scan(qr_text(cbor2.dumps(cbor2.CBORTag(98, [b"", {}, b"", b"s"])))),
    ),
    (
        "bad_cose_trailing_bytes",
        Reason.BAD_COSE,
        lambda c: c.scan(qr_text(hand_sign1(b"\xa0", c.key, tagged=c.tagged) + b"\x00")),
    ),
    ("bad_cose_kid_mismatch", Reason.BAD_COSE, lambda c: c.scan(c.cose(unprotected={4: b"\x01" * 8}))),
    ("bad_cose_no_kid", Reason.BAD_COSE, lambda c: c.scan(c.cose(protected={1: int(c.alg)}))),
    (
        "bad_cose_kid_only_unprotected",
        Reason.BAD_COSE,
        lambda c: c.scan(c.cose(protected={1: int(c.alg)}, unprotected={4: c.kid})),
    ),
    ("bad_cose_kid_text", Reason.BAD_COSE, lambda c: c.scan(c.cose(protected={1: int(c.alg), 4: c.kid.hex()}))),
    ("bad_cose_kid_empty", Reason.BAD_COSE, lambda c: c.scan(c.cose(protected={1: int(c.alg), 4: b""}))),
    ("bad_cose_header_label_bool", Reason.BAD_COSE, lambda c: c.scan(c.cose(protected={True: int(c.alg), 4: c.kid}))),
    ("bad_cose_protected_not_cbor", Reason.BAD_COSE, lambda c: c.scan(c.cose(protected_bytes=b"\xff\xff"))),
    ("bad_cose_protected_not_map", Reason.BAD_COSE, lambda c: c.scan(c.cose(protected_bytes=cbor2.dumps([1, -7])))),
    ("bad_cose_deep_nesting", Reason.BAD_COSE, lambda c: c.scan(c.cose(unprotected={99: nested(40)}))),
    ("bad_cose_array_2_40", Reason.BAD_COSE, lambda c: c.scan(qr_text(b"\x9b" + (2**40).to_bytes(8, "big")))),
    ("bad_cbor_payload_not_cbor", Reason.BAD_CBOR, lambda c: c.scan(c.cose(b"\xff\x00"))),
    ("bad_cbor_payload_trailing", Reason.BAD_CBOR, lambda c: c.scan(c.cose(cbor2.dumps(pass_claims()) + b"\x00"))),
    ("bad_cbor_payload_not_map", Reason.BAD_CBOR, lambda c: c.scan(c.claims([1, 2, 3]))),
    ("bad_cbor_duplicate_claim", Reason.BAD_CBOR, lambda c: c.scan(c.cose(_duplicate_iss(pass_claims())))),
    ("bad_cbor_unknown_status", Reason.BAD_CBOR, lambda c: c.scan(c.body(pass_body(st="blue")))),
    ("bad_cbor_status_capitalised", Reason.BAD_CBOR, lambda c: c.scan(c.body(pass_body(st="Green")))),
    ("bad_cbor_status_bytes", Reason.BAD_CBOR, lambda c: c.scan(c.body(pass_body(st=b"green")))),
    ("bad_cbor_missing_iss", Reason.BAD_CBOR, lambda c: c.scan(c.claims(without(pass_claims(), 1)))),
    ("bad_cbor_missing_exp", Reason.BAD_CBOR, lambda c: c.scan(c.claims(without(pass_claims(), 4)))),
    ("bad_cbor_missing_iat", Reason.BAD_CBOR, lambda c: c.scan(c.claims(without(pass_claims(), 6)))),
    ("bad_cbor_missing_cti", Reason.BAD_CBOR, lambda c: c.scan(c.claims(without(pass_claims(), 7)))),
    ("bad_cbor_missing_body", Reason.BAD_CBOR, lambda c: c.scan(c.claims(without(pass_claims(), -65537)))),
    ("bad_cbor_missing_st", Reason.BAD_CBOR, lambda c: c.scan(c.body(without(pass_body(), "st")))),
    ("bad_cbor_missing_hid", Reason.BAD_CBOR, lambda c: c.scan(c.body(without(pass_body(), "hid")))),
    ("bad_cbor_missing_v", Reason.BAD_CBOR, lambda c: c.scan(c.body(without(pass_body(), "v")))),
    ("bad_cbor_iss_bytes", Reason.BAD_CBOR, lambda c: c.scan(c.claims(pass_claims(iss=ISS.encode())))),
    ("bad_cbor_iss_empty", Reason.BAD_CBOR, lambda c: c.scan(c.claims(pass_claims(iss="")))),
    ("bad_cbor_iss_key_true", Reason.BAD_CBOR, lambda c: c.scan(c.claims(_rekeyed(1, key=True)))),
    ("bad_cbor_exp_key_float", Reason.BAD_CBOR, lambda c: c.scan(c.claims(_rekeyed(4, key=4.0)))),
    ("bad_cbor_exp_text", Reason.BAD_CBOR, lambda c: c.scan(c.claims(pass_claims(exp=str(EXP))))),
    ("bad_cbor_exp_bool", Reason.BAD_CBOR, lambda c: c.scan(c.claims(pass_claims(exp=True)))),
    ("bad_cbor_exp_null", Reason.BAD_CBOR, lambda c: c.scan(c.claims(pass_claims(exp=None)))),
    ("bad_cbor_exp_bignum", Reason.BAD_CBOR, lambda c: c.scan(c.claims(pass_claims(exp=2**70)))),
    ("bad_cbor_iat_float", Reason.BAD_CBOR, lambda c: c.scan(c.claims(pass_claims(iat=NOW - 3600.0)))),
    ("bad_cbor_cti_15_bytes", Reason.BAD_CBOR, lambda c: c.scan(c.claims(pass_claims(cti=CTI[:15])))),
    ("bad_cbor_cti_text", Reason.BAD_CBOR, lambda c: c.scan(c.claims(pass_claims(cti=CTI.hex())))),
    ("bad_cbor_hid_17_bytes", Reason.BAD_CBOR, lambda c: c.scan(c.body(pass_body(hid=HID + b"\x00")))),
    ("bad_cbor_v_bool", Reason.BAD_CBOR, lambda c: c.scan(c.body(pass_body(v=True)))),
    ("bad_cbor_v_2", Reason.BAD_CBOR, lambda c: c.scan(c.body(pass_body(v=2)))),
    ("bad_cbor_nm_int", Reason.BAD_CBOR, lambda c: c.scan(c.body(pass_body(nm=7)))),
    ("bad_cbor_nm_null", Reason.BAD_CBOR, lambda c: c.scan(c.body(pass_body(nm=None)))),
    ("bad_cbor_nm_too_long", Reason.BAD_CBOR, lambda c: c.scan(c.body(pass_body(nm="张" * 65)))),
    ("bad_cbor_since_bool", Reason.BAD_CBOR, lambda c: c.scan(c.body(pass_body(since=False)))),
    ("bad_cbor_since_null", Reason.BAD_CBOR, lambda c: c.scan(c.body(pass_body(since=None)))),
    ("bad_cbor_body_int_key", Reason.BAD_CBOR, lambda c: c.scan(c.body(_int_keyed_body()))),
    ("bad_cbor_body_not_map", Reason.BAD_CBOR, lambda c: c.scan(c.body("green"))),
    ("bad_cbor_deep_nesting", Reason.BAD_CBOR, lambda c: c.scan(c.claims({**pass_claims(), 99: nested(13)}))),
    ("bad_cbor_very_deep_nesting", Reason.BAD_CBOR, lambda c: c.scan(c.cose(b"\x81" * 10_000 + b"\x00"))),
    ("bad_cbor_array_2_40", Reason.BAD_CBOR, lambda c: c.scan(c.cose(b"\x9b" + (2**40).to_bytes(8, "big")))),
    (
        "unknown_kid_other_key",
        Reason.UNKNOWN_KID,
        lambda c: c.scan(gp1.encode_pass(health_pass(), c.other_key, tagged=c.tagged)),
    ),
    ("unknown_kid_empty_trust_list", Reason.UNKNOWN_KID, lambda c: c.scan(trust=TrustList.empty())),
    (
        "bad_signature_flipped_bit",
        Reason.BAD_SIGNATURE,
        lambda c: c.scan(c.cose(signature=flip_last_bit(c.cose_sig()))),
    ),
    ("bad_signature_other_signer", Reason.BAD_SIGNATURE, lambda c: c.scan(_other_signer(c))),
    ("bad_signature_payload_swapped", Reason.BAD_SIGNATURE, lambda c: c.scan(_swapped_payload(c))),
    ("bad_signature_63_bytes", Reason.BAD_SIGNATURE, lambda c: c.scan(c.cose(signature=c.cose_sig()[:63]))),
    ("untrusted_issuer_other_iss", Reason.UNTRUSTED_ISSUER, lambda c: c.scan(c.text(iss=OTHER_ISS))),
    (
        "untrusted_issuer_before_entry_nbf",
        Reason.UNTRUSTED_ISSUER,
        lambda c: c.scan(trust=trust_list(c.entry(nbf=NOW + 1))),
    ),
    ("untrusted_issuer_at_entry_exp", Reason.UNTRUSTED_ISSUER, lambda c: c.scan(trust=trust_list(c.entry(exp=NOW)))),
    ("untrusted_issuer_entry_expired", Reason.UNTRUSTED_ISSUER, lambda c: c.scan(trust=trust_list(c.entry(exp=1)))),
    ("unsupported_alg_ps256", Reason.UNSUPPORTED_ALG, lambda c: c.scan(c.cose(protected={1: -37, 4: c.kid}))),
    ("unsupported_alg_es384", Reason.UNSUPPORTED_ALG, lambda c: c.scan(c.cose(protected={1: -35, 4: c.kid}))),
    ("unsupported_alg_absent", Reason.UNSUPPORTED_ALG, lambda c: c.scan(c.cose(protected={4: c.kid}))),
    ("unsupported_alg_text", Reason.UNSUPPORTED_ALG, lambda c: c.scan(c.cose(protected={1: "ES256", 4: c.kid}))),
    (
        "unsupported_alg_only_unprotected",
        Reason.UNSUPPORTED_ALG,
        lambda c: c.scan(c.cose(protected={4: c.kid}, unprotected={1: int(c.alg)})),
    ),
    (
        "unsupported_alg_differs_from_entry",
        Reason.UNSUPPORTED_ALG,
        lambda c: c.scan(trust=trust_list(c.entry(alg=int(Alg.EDDSA if c.alg is Alg.ES256 else Alg.ES256)))),
    ),
]


@pytest.mark.parametrize("tagged", [True, False], ids=["tagged", "untagged"])
@pytest.mark.parametrize("alg", GP1_ALGS, ids=lambda a: a.name)
@pytest.mark.parametrize(("expected", "build"), [pytest.param(r, b, id=i) for i, r, b in ROWS])
def test_reason_table(expected: Reason, build: Callable[[Ctx], Scan], alg: Alg, tagged: bool) -> None:
    scan = build(Ctx(alg, tagged))
    verdict = scan.decide()
    assert verdict.reason is expected, verdict
    assert verdict.decision is DECISION_OF[expected]
    if expected is not Reason.BAD_PREFIX and len(scan.text.encode()) <= 4096:
        assert verdict.kind == "GP1"
    _assert_no_personal_data(verdict, scan.text)


def test_every_reason_of_the_spec_has_a_row() -> None:
    assert {reason for _, reason, _ in ROWS} == set(Reason)


def _assert_no_personal_data(verdict: Verdict, text: str) -> None:
    shown = json.dumps(verdict.to_json(), ensure_ascii=False)
    secrets = [HID.hex(), HID.hex().upper(), CTI.hex(), NAME]
    if len(text) > 16:
        secrets.append(text[4:40])
    for secret in secrets:
        assert secret not in shown
    assert repr(HID) not in repr(verdict)
    assert NAME not in repr(verdict)


@pytest.mark.parametrize("alg", GP1_ALGS, ids=lambda a: a.name)
def test_verdict_of_a_good_pass_reports_what_a_log_needs(alg: Alg) -> None:
    ctx = Ctx(alg, tagged=True)
    verdict = ctx.scan().decide()
    assert verdict.to_json() == {
        "decision": "pass",
        "reason": "ok",
        "kind": "GP1",
        "iss": ISS,
        "kid": ctx.kid.hex(),
        "status": "green",
        "exp": EXP,
        "rid": pass_rid(ISS, CTI).hex(),
    }
    assert verdict.decision is Decision.PASS


def test_a_refusal_still_reports_what_was_read() -> None:
    ctx = Ctx(Alg.ES256, tagged=True)
    verdict = ctx.scan(now=EXP).decide()
    assert (verdict.reason, verdict.iss, verdict.kid, verdict.status) == (Reason.EXPIRED, ISS, ctx.kid, "green")


def test_ecdsa_signature_in_der_form_is_bad_signature() -> None:
    """COSE carries ES256 as raw r||s: a DER signature (what ``cryptography`` emits) is not accepted."""
    ctx = Ctx(Alg.ES256, tagged=True)
    key = ctx.key
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    payload = cbor2.dumps(pass_claims())
    protected_bytes = cbor2.dumps(ctx.protected)
    to_be_signed = cbor2.dumps(["Signature1", protected_bytes, b"", payload])
    der = key.sign(to_be_signed, ec.ECDSA(hashes.SHA256()))
    text = ctx.cose(payload, protected_bytes=protected_bytes, signature=der)
    assert ctx.scan(text).decide().reason is Reason.BAD_SIGNATURE
