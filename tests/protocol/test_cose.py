"""COSE_Sign1 (RFC 9052): what the encoder emits, what the decoder accepts, and every way a message is malformed."""

from __future__ import annotations

from typing import Any

import cbor2
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from hypothesis import given
from hypothesis import strategies as st

from protocol.cose import CoseError, Sign1, decode_sign1, encode_sign1, sig_structure
from protocol.keys import Alg, PrivateKey, kid_of_public_key, verify
from tests.protocol.support import GP1_ALGS, hand_sig_structure, hand_sign1, signing_key

PAYLOAD = cbor2.dumps({1: "CN-ZJ-HZ", 4: 1_750_003_600})


def _verify_with_cryptography(key: PrivateKey, message: Sign1) -> None:
    """Check a signature with ``cryptography`` alone: raises InvalidSignature when it does not verify."""
    to_be_signed = hand_sig_structure(message.protected_bytes, message.payload)
    if isinstance(key, ed25519.Ed25519PrivateKey):
        key.public_key().verify(message.signature, to_be_signed)
        return
    r = int.from_bytes(message.signature[:32], "big")
    s = int.from_bytes(message.signature[32:], "big")
    key.public_key().verify(encode_dss_signature(r, s), to_be_signed, ec.ECDSA(hashes.SHA256()))


@pytest.mark.parametrize("tagged", [True, False], ids=["tagged", "untagged"])
@pytest.mark.parametrize("alg", GP1_ALGS, ids=lambda a: a.name)
def test_encode_then_decode(alg: Alg, tagged: bool) -> None:
    key = signing_key(alg)
    data = encode_sign1(PAYLOAD, key, tagged=tagged)
    raw = cbor2.loads(data)
    assert isinstance(raw, cbor2.CBORTag) is tagged
    message = decode_sign1(data)
    assert message.tagged is tagged
    assert message.protected == {1: int(alg), 4: kid_of_public_key(key.public_key())}
    assert cbor2.dumps(message.protected, canonical=True) == message.protected_bytes
    assert message.unprotected == {}
    assert message.payload == PAYLOAD
    assert len(message.signature) == 64
    assert message.alg == alg
    assert message.kid(reject_mismatch=True) == kid_of_public_key(key.public_key())
    assert message.to_be_signed() == hand_sig_structure(message.protected_bytes, PAYLOAD)
    assert verify(key.public_key(), alg, message.to_be_signed(), message.signature)
    _verify_with_cryptography(key, message)


def test_sig_structure_is_rfc_9052_signature1() -> None:
    """The ToBeSigned of the COSE WG example sign1-pass-01 (protected {1: -7}, no external AAD)."""
    expected = "846a5369676e61747572653143a101264054546869732069732074686520636f6e74656e742e"
    assert sig_structure(bytes.fromhex("a10126"), b"This is the content.").hex() == expected


def test_encode_with_a_given_kid_and_unprotected_header() -> None:
    key = signing_key(Alg.EDDSA)
    message = decode_sign1(encode_sign1(PAYLOAD, key, kid=b"\x01" * 8, unprotected={99: "note"}))
    assert message.protected[4] == b"\x01" * 8
    assert message.unprotected == {99: "note"}


@pytest.mark.parametrize("kid", [b"", b"\x00" * 65], ids=["empty", "65-bytes"])
def test_encode_refuses_a_kid_of_no_sensible_length(kid: bytes) -> None:
    with pytest.raises(CoseError):
        encode_sign1(PAYLOAD, signing_key(Alg.EDDSA), kid=kid)


def test_cwt_tag_61_around_the_sign1_is_read() -> None:
    """Some DCC issuers wrap COSE_Sign1 in the CWT tag."""
    inner = cbor2.loads(hand_sign1(PAYLOAD, signing_key(Alg.ES256)))
    for wrapped in (cbor2.CBORTag(61, inner), cbor2.CBORTag(61, list(inner.value))):
        message = decode_sign1(cbor2.dumps(wrapped))
        assert message.payload == PAYLOAD


def test_empty_protected_header_is_an_empty_map() -> None:
    message = decode_sign1(hand_sign1(PAYLOAD, signing_key(Alg.EDDSA), protected_bytes=b""))
    assert message.protected == {}
    assert message.alg is None
    assert message.kid(reject_mismatch=True) is None


def _message(*parts: object, tag: int | None = 18) -> bytes:
    return cbor2.dumps(list(parts) if tag is None else cbor2.CBORTag(tag, list(parts)))


PROTECTED = cbor2.dumps({1: -8, 4: b"\x01" * 8})


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"\xff", id="not-cbor"),
        pytest.param(b"", id="empty"),
        pytest.param(cbor2.dumps({1: 2}), id="a-map"),
        pytest.param(_message(PROTECTED, {}, PAYLOAD), id="three-elements"),
        pytest.param(_message(PROTECTED, {}, PAYLOAD, b"s", b"s"), id="five-elements"),
        pytest.param(_message({1: -8}, {}, PAYLOAD, b"s"), id="protected-a-map"),
        pytest.param(_message(PROTECTED, [], PAYLOAD, b"s"), id="unprotected-an-array"),
        pytest.param(_message(PROTECTED, {}, None, b"s"), id="detached-payload"),
        pytest.param(_message(PROTECTED, {}, "text", b"s"), id="payload-text"),
        pytest.param(_message(PROTECTED, {}, PAYLOAD, b""), id="empty-signature"),
        pytest.param(_message(PROTECTED, {}, PAYLOAD, b"s" * 1025), id="huge-signature"),
        pytest.param(_message(PROTECTED, {}, PAYLOAD, "sig"), id="signature-text"),
        pytest.param(_message(PROTECTED, {}, PAYLOAD, b"s", tag=98), id="sign-tag-98"),
        pytest.param(cbor2.dumps(cbor2.CBORTag(61, cbor2.CBORTag(61, []))), id="cwt-tag-twice"),
        pytest.param(_message(b"\xff", {}, PAYLOAD, b"s"), id="protected-not-cbor"),
        pytest.param(_message(cbor2.dumps([1]), {}, PAYLOAD, b"s"), id="protected-an-array"),
        pytest.param(_message(PROTECTED + b"\x00", {}, PAYLOAD, b"s"), id="protected-trailing"),
        pytest.param(_message(cbor2.dumps({1: [[[[[0]]]]]}), {}, PAYLOAD, b"s"), id="protected-too-deep"),
        pytest.param(_message(cbor2.dumps({True: -8}), {}, PAYLOAD, b"s"), id="protected-label-bool"),
        pytest.param(_message(cbor2.dumps({1.0: -8}), {}, PAYLOAD, b"s"), id="protected-label-float"),
        pytest.param(_message(PROTECTED, {b"\x04": b"k"}, PAYLOAD, b"s"), id="unprotected-label-bytes"),
        pytest.param(_message(PROTECTED, {}, PAYLOAD, b"s") + b"\x00", id="trailing-bytes"),
    ],
)
def test_decode_refuses(data: bytes) -> None:
    with pytest.raises(CoseError):
        decode_sign1(data)


def _sign1(protected: dict[Any, Any], unprotected: dict[Any, Any]) -> Sign1:
    return Sign1(cbor2.dumps(protected), protected, unprotected, PAYLOAD, b"s")


KID, OTHER = b"\x01" * 8, b"\x02" * 8


@pytest.mark.parametrize(
    ("protected", "unprotected", "expected"),
    [
        pytest.param({4: KID}, {}, KID, id="protected"),
        pytest.param({}, {4: KID}, KID, id="unprotected"),
        pytest.param({4: KID}, {4: KID}, KID, id="both-equal"),
        pytest.param({}, {}, None, id="none"),
    ],
)
def test_kid(protected: dict[Any, Any], unprotected: dict[Any, Any], expected: bytes | None) -> None:
    message = _sign1(protected, unprotected)
    assert message.kid(reject_mismatch=True) == message.kid(reject_mismatch=False) == expected


def test_kid_mismatch_is_refused_when_asked_and_the_protected_one_wins_otherwise() -> None:
    message = _sign1({4: KID}, {4: OTHER})
    with pytest.raises(CoseError):
        message.kid(reject_mismatch=True)
    assert message.kid(reject_mismatch=False) == KID


@pytest.mark.parametrize("kid", ["text", b"", b"k" * 65, 7, None], ids=["text", "empty", "65-bytes", "int", "null"])
def test_kid_of_the_wrong_shape_is_refused(kid: object) -> None:
    for message in (_sign1({4: kid}, {}), _sign1({}, {4: kid})):
        if kid is None:
            assert message.kid(reject_mismatch=True) is None
            continue
        with pytest.raises(CoseError):
            message.kid(reject_mismatch=True)


@pytest.mark.parametrize(
    ("header", "alg"),
    [({1: -7}, -7), ({1: -8}, -8), ({1: -37}, -37), ({1: True}, None), ({1: "ES256"}, None), ({}, None)],
    ids=["es256", "eddsa", "ps256", "bool", "text", "absent"],
)
def test_alg_is_read_from_the_protected_header_only(header: dict[Any, Any], alg: int | None) -> None:
    assert _sign1(header, {1: -7}).alg == alg


@given(st.binary(max_size=2000), st.sampled_from(GP1_ALGS), st.booleans())
def test_round_trip_of_any_payload(payload: bytes, alg: Alg, tagged: bool) -> None:
    key = signing_key(alg)
    message = decode_sign1(encode_sign1(payload, key, tagged=tagged))
    assert (message.payload, message.tagged, message.alg) == (payload, tagged, alg)
    assert verify(key.public_key(), alg, message.to_be_signed(), message.signature)


@given(st.binary(max_size=400))
def test_decode_of_any_bytes_raises_only_cose_error(data: bytes) -> None:
    try:
        message = decode_sign1(data)
    except CoseError:
        return
    assert isinstance(message.payload, bytes)
