"""The trust list document: signed by the district root, parsed strictly, applied only when newer."""

from __future__ import annotations

import datetime as dt
from typing import Any

import cbor2
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.documents import DocumentError, DocumentProblem
from protocol.keys import Alg, KeyFormatError, kid_of_certificate, kid_of_public_key, spki_der
from protocol.trustlist import (
    MAX_ISSUERS,
    MAX_TRUST_LIST_BYTES,
    TrustedIssuer,
    TrustList,
    accept_newer,
    build_trust_list,
    parse_trust_list,
)
from tests.protocol.support import DAY_S, ISS, NOW, hand_sign1, issuer_entry, root_key, signing_key

KEY_POOL = [(alg, index) for alg in (Alg.ES256, Alg.EDDSA) for index in range(3)]


def _parse(document: bytes) -> TrustList:
    return parse_trust_list(document, root_key().public_key())


def _problem(document: bytes) -> DocumentProblem:
    with pytest.raises(DocumentError) as caught:
        _parse(document)
    return caught.value.problem


def _issuer_map(**changes: Any) -> dict[str, Any]:  # noqa: ANN401
    key = signing_key(Alg.ES256)
    entry = {
        "kid": kid_of_public_key(key.public_key()),
        "iss": ISS,
        "alg": -7,
        "spki": spki_der(key.public_key()),
        "nbf": 0,
        "exp": NOW + DAY_S,
    }
    return {**entry, **changes}


def _body(**changes: Any) -> dict[str, Any]:  # noqa: ANN401
    return {"v": 1, "seq": 1, "ts": NOW, "issuers": [_issuer_map()], **changes}


def _sealed(body: object) -> bytes:
    """A document around ``body``, correctly signed by the root, made by hand."""
    return hand_sign1(cbor2.dumps(body), root_key())


def _certificate_der() -> bytes:
    key = signing_key(Alg.ES256, 2)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    name = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "DE")])
    start = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(7)
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.DER)


@st.composite
def issuers(draw: st.DrawFn) -> TrustedIssuer:
    alg, index = draw(st.sampled_from(KEY_POOL))
    nbf = draw(st.integers(min_value=0, max_value=2**40))
    exp = draw(st.integers(min_value=0, max_value=2**62))
    return issuer_entry(signing_key(alg, index), draw(st.text(min_size=1, max_size=64)), nbf=nbf, exp=exp)


@settings(max_examples=50)
@given(st.lists(issuers(), max_size=8), st.integers(min_value=0, max_value=2**63 - 1), st.integers(0, 2**40))
def test_build_then_parse(entries: list[TrustedIssuer], seq: int, ts: int) -> None:
    trust = _parse(build_trust_list(root_key(), seq=seq, ts=ts, issuers=entries))
    assert (trust.seq, trust.ts) == (seq, ts)
    assert sum(len(found) for found in trust.issuers.values()) == len(entries)
    for entry in entries:
        assert entry in trust.issuers_for(entry.kid)
    for kid, found in trust.issuers.items():
        assert list(found) == [e for e in entries if e.kid == kid]  # every entry of a kid, in the list's order
        for parsed in found:
            assert parsed.public_key is not None
            assert spki_der(parsed.public_key) == parsed.spki


def test_an_empty_trust_list_trusts_nothing() -> None:
    empty = TrustList.empty()
    assert empty.seq == 0
    assert empty.issuers_for(kid_of_public_key(signing_key(Alg.ES256).public_key())) == ()
    assert empty.dscs_for(b"\x00" * 8) == ()
    assert _parse(build_trust_list(root_key(), seq=1, ts=NOW, issuers=[])).issuers == {}


def test_signing_certificates_are_indexed_by_their_kid() -> None:
    der = _certificate_der()
    trust = _parse(build_trust_list(root_key(), seq=1, ts=NOW, issuers=[], dscs=[der]))
    (certificate,) = trust.dscs_for(kid_of_certificate(der))
    assert certificate.der == der


def test_an_entry_whose_key_cannot_be_loaded_is_kept_but_verifies_nothing() -> None:
    trust = _parse(_sealed(_body(issuers=[_issuer_map(spki=b"not a key")])))
    (entry,) = trust.issuers_for(_issuer_map()["kid"])
    assert entry.public_key is None


def test_valid_at_takes_nbf_and_not_exp() -> None:
    entry = issuer_entry(signing_key(Alg.EDDSA), nbf=100, exp=200)
    assert [entry.valid_at(t) for t in (99, 99.999, 100, 199.999, 200)] == [False, False, True, True, False]


@pytest.mark.parametrize(
    "key",
    [lambda: ec.generate_private_key(ec.SECP384R1()), lambda: rsa.generate_private_key(65537, 2048)],
    ids=["p384", "rsa"],
)
def test_issuer_keys_are_p256_or_ed25519(key: object) -> None:
    assert callable(key)
    with pytest.raises(KeyFormatError):
        TrustedIssuer.for_key(key().public_key(), ISS, nbf=0, exp=1)


def test_accept_newer() -> None:
    held = _parse(build_trust_list(root_key(), seq=5, ts=NOW, issuers=[]))
    newer = _parse(build_trust_list(root_key(), seq=6, ts=NOW, issuers=[]))
    assert accept_newer(held, newer) is newer
    assert accept_newer(TrustList.empty(), held) is held
    for seq in (4, 5):
        candidate = _parse(build_trust_list(root_key(), seq=seq, ts=NOW, issuers=[]))
        with pytest.raises(DocumentError) as caught:
            accept_newer(held, candidate)
        assert caught.value.problem is DocumentProblem.NOT_NEWER


def test_refusals_of_the_envelope() -> None:
    good = build_trust_list(root_key(), seq=1, ts=NOW, issuers=[])
    other_root = signing_key(Alg.EDDSA, 98)
    root_kid = kid_of_public_key(root_key().public_key())
    es256 = signing_key(Alg.ES256)
    payload = cbor2.dumps(_body())
    assert _problem(build_trust_list(other_root, seq=1, ts=NOW, issuers=[])) is DocumentProblem.WRONG_KEY
    assert _problem(hand_sign1(payload, es256, protected={1: -7, 4: root_kid})) is DocumentProblem.WRONG_KEY
    assert _problem(hand_sign1(payload, other_root, protected={1: -8, 4: root_kid})) is DocumentProblem.BAD_SIGNATURE
    assert _problem(good[:-1] + bytes([good[-1] ^ 1])) is DocumentProblem.BAD_SIGNATURE
    assert _problem(hand_sign1(payload, root_key(), unprotected={4: b"\x09" * 8})) is DocumentProblem.BAD_COSE
    assert _problem(b"not cose") is DocumentProblem.BAD_COSE
    assert _problem(good + b"\x00") is DocumentProblem.BAD_COSE
    assert _problem(bytes(MAX_TRUST_LIST_BYTES + 1)) is DocumentProblem.TOO_LARGE


def test_too_many_issuers_is_too_large() -> None:
    document = _sealed(_body(issuers=[_issuer_map()] * (MAX_ISSUERS + 1)))
    assert _problem(document) is DocumentProblem.TOO_LARGE


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(_body(v=2), id="v-2"),
        pytest.param(_body(v=True), id="v-bool"),
        pytest.param({k: v for k, v in _body().items() if k != "v"}, id="no-v"),
        pytest.param({k: v for k, v in _body().items() if k != "seq"}, id="no-seq"),
        pytest.param({k: v for k, v in _body().items() if k != "issuers"}, id="no-issuers"),
        pytest.param(_body(seq=-1), id="seq-negative"),
        pytest.param(_body(seq=2**63), id="seq-too-big"),
        pytest.param(_body(seq="1"), id="seq-text"),
        pytest.param(_body(ts=1.5), id="ts-float"),
        pytest.param(_body(issuers={}), id="issuers-a-map"),
        pytest.param(_body(issuers=["x"]), id="issuer-not-a-map"),
        pytest.param(_body(issuers=[_issuer_map(kid=b"\x01" * 7)]), id="kid-7-bytes"),
        pytest.param(_body(issuers=[_issuer_map(kid="0102030405060708")]), id="kid-text"),
        pytest.param(_body(issuers=[_issuer_map(iss="")]), id="iss-empty"),
        pytest.param(_body(issuers=[_issuer_map(iss="x" * 65)]), id="iss-65"),
        pytest.param(_body(issuers=[_issuer_map(alg="ES256")]), id="alg-text"),
        pytest.param(_body(issuers=[_issuer_map(alg=False)]), id="alg-bool"),
        pytest.param(_body(issuers=[_issuer_map(spki="key")]), id="spki-text"),
        pytest.param(_body(issuers=[_issuer_map(nbf=-1)]), id="nbf-negative"),
        pytest.param(_body(issuers=[{k: v for k, v in _issuer_map().items() if k != "exp"}]), id="no-exp"),
        pytest.param(_body(dsc=None), id="dsc-null"),
        pytest.param(_body(dsc=["cert"]), id="dsc-text"),
        pytest.param(_body(dsc=[b"not a certificate"]), id="dsc-not-a-certificate"),
        pytest.param([_body()], id="an-array"),
        pytest.param({1: 1}, id="int-keys"),
    ],
)
def test_schema_refusals(body: object) -> None:
    assert _problem(_sealed(body)) is DocumentProblem.BAD_SCHEMA


def test_payload_that_is_not_cbor_is_bad_schema() -> None:
    assert _problem(hand_sign1(b"\xff", root_key())) is DocumentProblem.BAD_SCHEMA
    assert _problem(hand_sign1(cbor2.dumps(_body()) + b"\x00", root_key())) is DocumentProblem.BAD_SCHEMA


CBOR_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10) | st.binary(max_size=40),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=6),
    max_leaves=20,
)
FIELDS = st.sampled_from(["v", "seq", "ts", "issuers", "dsc", "kid", "iss", "alg", "spki", "nbf", "exp"])


def _parses_or_refuses(document: bytes) -> None:
    """Parsing ends in a trust list or a DocumentError: any other exception fails the test."""
    try:
        trust = _parse(document)
    except DocumentError:
        return
    assert isinstance(trust, TrustList)


@given(st.binary(max_size=500))
def test_any_bytes_are_parsed_or_refused(data: bytes) -> None:
    _parses_or_refuses(data)


@settings(max_examples=60)
@given(st.dictionaries(FIELDS, CBOR_VALUES, max_size=4), st.dictionaries(FIELDS, CBOR_VALUES, max_size=3))
def test_any_signed_body_is_parsed_or_refused(changes: dict[str, Any], issuer_changes: dict[str, Any]) -> None:
    _parses_or_refuses(_sealed({**_body(issuers=[_issuer_map(**issuer_changes)]), **changes}))


@given(st.data())
def test_a_flipped_bit_is_always_refused(data: st.DataObject) -> None:
    document = bytearray(build_trust_list(root_key(), seq=3, ts=NOW, issuers=[issuer_entry(signing_key(Alg.ES256))]))
    bit = data.draw(st.integers(min_value=0, max_value=len(document) * 8 - 1))
    document[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(DocumentError):
        _parse(bytes(document))
