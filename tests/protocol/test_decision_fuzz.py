"""Hostile input to the decision: bombs, hostile CBOR, and fuzzing.

Whatever the text, ``decide`` returns (never raises) a verdict whose decision is the one the spec's table gives
its reason; a credential that was tampered with after signing is never ``ok``.
"""

from __future__ import annotations

import functools
import tracemalloc
import zlib
from typing import Any

import cbor2
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import gp1
from protocol.decision import Verdict, decide
from protocol.keys import Alg, kid_of_public_key
from protocol.reasons import DECISION_OF, Reason
from protocol.revocation import HeldLists, holder_rid
from protocol.trustlist import TrustList
from tests.protocol.support import (
    ISS,
    NOW,
    b45,
    bomb_text,
    hand_sign1,
    health_pass,
    issuer_entry,
    pass_body,
    pass_claims,
    qr_text,
    revoked,
    signing_key,
    trust_list,
    unb45,
)

PREFIXES = st.sampled_from(["GP1:", "HC1:"])
CBOR_LEAVES = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**64), max_value=2**64)
    | st.floats()
    | st.text(max_size=24)
    | st.binary(max_size=40)
)
CBOR_KEYS = st.integers(min_value=-70_000, max_value=10) | st.text(max_size=6) | st.booleans()
CBOR_VALUES = st.recursive(
    CBOR_LEAVES,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(CBOR_KEYS, children, max_size=5),
    max_leaves=25,
)


@functools.cache
def both_issuers() -> TrustList:
    return trust_list(*(issuer_entry(signing_key(alg)) for alg in (Alg.ES256, Alg.EDDSA)))


@functools.cache
def holder_revoked() -> HeldLists:
    return revoked(holder_rid(ISS, bytes(16)))


def scan(text: str) -> Verdict:
    verdict = decide(text, trust=both_issuers(), revocations=holder_revoked(), now=NOW)
    assert isinstance(verdict, Verdict)
    assert isinstance(verdict.reason, Reason)
    assert verdict.decision is DECISION_OF[verdict.reason]
    return verdict


def wrap(payload: bytes, prefix: str = "GP1:") -> str:
    return prefix + b45(zlib.compress(payload))


@given(st.text(max_size=5000))
def test_any_text(text: str) -> None:
    scan(text)


@given(PREFIXES, st.text(alphabet="0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:", max_size=600))
def test_any_base45_alphabet_text(prefix: str, body: str) -> None:
    scan(prefix + body)


@given(PREFIXES, st.binary(max_size=2700))
def test_any_bytes_behind_a_prefix(prefix: str, data: bytes) -> None:
    scan(prefix + b45(data))


@given(PREFIXES, CBOR_VALUES)
def test_any_cbor_in_zlib(prefix: str, value: object) -> None:
    scan(wrap(cbor2.dumps(value), prefix))


COSE_PARTS = st.tuples(
    CBOR_VALUES | st.dictionaries(st.sampled_from([1, 4, 5]), CBOR_VALUES, max_size=3),
    CBOR_VALUES,
    CBOR_VALUES,
    st.binary(max_size=80),
)


@given(PREFIXES, st.booleans(), COSE_PARTS)
def test_any_cose_shaped_array(prefix: str, tagged: bool, parts: tuple[object, object, object, bytes]) -> None:
    protected, unprotected, payload, signature = parts
    message = [cbor2.dumps(protected), unprotected, cbor2.dumps(payload), signature]
    scan(wrap(cbor2.dumps(cbor2.CBORTag(18, message) if tagged else message), prefix))


CLAIM_CHANGES = st.dictionaries(st.sampled_from([1, 4, 6, 7, -65537, -260, 99]), CBOR_VALUES, max_size=3)
BODY_CHANGES = st.dictionaries(st.sampled_from(["v", "st", "hid", "nm", "since", "x"]), CBOR_VALUES, max_size=3)


@settings(max_examples=60)
@given(st.sampled_from([Alg.ES256, Alg.EDDSA]), CLAIM_CHANGES, BODY_CHANGES, st.sampled_from(["GP1:", "HC1:"]))
def test_signed_claims_of_any_shape(
    alg: Alg, claim_changes: dict[Any, Any], body_changes: dict[str, Any], prefix: str
) -> None:
    """Correctly signed by a trusted key, so the fuzzing reaches the claims, the time and the status checks."""
    claims = {**pass_claims(), -65537: {**pass_body(), **body_changes}, **claim_changes}
    verdict = scan(wrap(hand_sign1(cbor2.dumps(claims), signing_key(alg)), prefix))
    if prefix == "GP1:" and not claim_changes and not body_changes:
        assert verdict.reason is Reason.OK


@functools.cache
def genuine_cose(alg: Alg, tagged: bool) -> bytes:
    return hand_sign1(cbor2.dumps(pass_claims()), signing_key(alg), tagged=tagged)


@given(st.sampled_from([Alg.ES256, Alg.EDDSA]), st.booleans(), st.data())
def test_a_flipped_bit_in_the_cose_is_never_ok(alg: Alg, tagged: bool, data: st.DataObject) -> None:
    cose = bytearray(genuine_cose(alg, tagged))
    assert scan(qr_text(bytes(cose))).reason is Reason.OK
    bit = data.draw(st.integers(min_value=0, max_value=len(cose) * 8 - 1))
    cose[bit // 8] ^= 1 << (bit % 8)
    assert scan(qr_text(bytes(cose))).reason is not Reason.OK


@given(st.sampled_from([Alg.ES256, Alg.EDDSA]), st.booleans(), st.data())
def test_a_flipped_bit_in_the_zlib_stream(alg: Alg, tagged: bool, data: st.DataObject) -> None:
    """A flip may land in ignored padding bits of the last deflate byte, so any reason is possible: only sanity."""
    stream = bytearray(zlib.compress(genuine_cose(alg, tagged)))
    bit = data.draw(st.integers(min_value=0, max_value=len(stream) * 8 - 1))
    stream[bit // 8] ^= 1 << (bit % 8)
    scan("GP1:" + b45(bytes(stream)))


@given(st.sampled_from([Alg.ES256, Alg.EDDSA]), st.booleans(), st.data())
def test_a_truncated_pass_is_never_ok(alg: Alg, tagged: bool, data: st.DataObject) -> None:
    text = gp1.encode_pass(health_pass(), signing_key(alg), tagged=tagged)
    cut = data.draw(st.integers(min_value=0, max_value=len(text) - 1))
    assert scan(text[:cut]).reason is not Reason.OK


@given(st.sampled_from([Alg.ES256, Alg.EDDSA]), st.data())
def test_a_substituted_character_is_never_ok_unless_it_changes_nothing(alg: Alg, data: st.DataObject) -> None:
    text = gp1.encode_pass(health_pass(), signing_key(alg))
    at = data.draw(st.integers(min_value=4, max_value=len(text) - 1))
    char = data.draw(st.sampled_from("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"))
    mutated = text[:at] + char + text[at + 1 :]
    verdict = scan(mutated)
    if verdict.reason is Reason.OK:  # only possible when the inflated COSE is the very same bytes
        same = zlib.decompress(unb45(mutated[4:])) == zlib.decompress(unb45(text[4:]))
        assert same


def _measure_peak(text: str) -> tuple[Verdict, int]:
    tracemalloc.start()
    try:
        verdict = scan(text)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return verdict, peak


def test_zlib_bomb_in_a_qr_text_is_too_large_without_inflating_it() -> None:
    text = bomb_text()
    assert len(text.encode()) <= 4096
    inflated = zlib.decompress(unb45(text[4:]))
    assert len(inflated) > 2_000_000  # the most a 4 KiB text carries: a 100 MB bomb does not fit in one
    del inflated
    verdict, peak = _measure_peak(text)
    assert verdict.reason is Reason.TOO_LARGE
    assert peak < 2 * 1024 * 1024


def test_array_header_of_2_40_items_costs_no_memory() -> None:
    payload = b"\x9b" + (2**40).to_bytes(8, "big") + bytes(64)
    verdict, peak = _measure_peak(qr_text(hand_sign1(payload, signing_key(Alg.EDDSA))))
    assert verdict.reason is Reason.BAD_CBOR
    assert peak < 1024 * 1024


def test_byte_string_header_of_2_62_bytes_costs_no_memory() -> None:
    cose = cbor2.dumps([cbor2.dumps({1: -8, 4: kid_of_public_key(signing_key(Alg.EDDSA).public_key())}), {}])
    cose = b"\x84" + cose[1:] + b"\x5b" + (2**62).to_bytes(8, "big") + bytes(64)
    verdict, peak = _measure_peak(qr_text(cose))
    assert verdict.reason is Reason.BAD_COSE
    assert peak < 1024 * 1024
