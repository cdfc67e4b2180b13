"""The HC1 path of the decision: one table row per reason the spec gives an HC1, for ES256 and PS256 signers,
then what real DCC issuers emit (tag 61, kid unprotected, float times, indefinite-length maps, other key sizes).

Credentials are made with district.dcc (a real X.509 DSC, a real COSE signature); malformed ones by hand.
"""

from __future__ import annotations

import functools
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import base45
import cbor2
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from district import dcc
from protocol.decision import ClockState, Verdict, decide
from protocol.dsc import CertificateError, DccType, load_signing_certificate
from protocol.keys import Alg, PrivateKey, generate_private_key
from protocol.reasons import Decision, Reason
from protocol.revocation import hc1_signature_rid
from protocol.trustlist import TrustList, parse_trust_list

NOW = 1_750_000_000
DAY_S = 86_400
IAT = NOW - DAY_S
EXP = NOW + 30 * DAY_S
ISS = "XX"
ALGS = (Alg.ES256, Alg.PS256)
V, T, RC = DccType.VACCINATION, DccType.TEST, DccType.RECOVERY


@functools.cache
def root() -> PrivateKey:
    return generate_private_key(Alg.EDDSA)


@functools.cache
def signer(alg: Alg, index: int = 0, size: int = 0) -> dcc.DccSigningKey:
    """One key per (alg, index, size) for the whole run: RSA key generation stays out of the tests' time."""
    if alg is Alg.ES256 and size:
        return ec.generate_private_key(ec.SECP384R1() if size == 384 else ec.SECP521R1())
    return dcc.generate_dcc_key(alg, rsa_bits=size or dcc.DEFAULT_RSA_BITS)


@functools.cache
def dsc(alg: Alg, types: frozenset[DccType] | None = None, index: int = 0, size: int = 0) -> dcc.Dsc:
    return dcc.make_dsc(
        signer(alg, index, size), not_before=NOW - 365 * DAY_S, not_after=NOW + 365 * DAY_S, types=types
    )


def trust(*dscs: dcc.Dsc | bytes) -> TrustList:
    """A trust list as a reader holds it: signed by the root, verified and parsed by the real code."""
    return parse_trust_list(dcc.trust_list_with(root(), dscs, seq=1, ts=NOW), root().public_key())


def claims(kind: DccType = V, **changes: Any) -> dict[Any, Any]:  # noqa: ANN401
    made = dcc.dcc_claims(kind, iat=IAT, exp=EXP, iss=ISS)
    made.update({{"iss": 1, "exp": 4, "iat": 6}[name]: value for name, value in changes.items()})
    return made


def text(signer_dsc: dcc.Dsc, payload: object = None, **cose: Any) -> str:  # noqa: ANN401
    """An HC1 text by ``signer_dsc`` over ``payload`` (claims, or raw CBOR bytes); kid protected unless told."""
    raw = payload if isinstance(payload, bytes) else cbor2.dumps(claims() if payload is None else payload)
    cose.setdefault("kid", signer_dsc.kid)
    return dcc.qr_text(dcc.sign_cose(raw, signer_dsc.key, **cose))


def hand_text(cose: bytes, *, compress: bool = True) -> str:
    """``HC1:`` + Base45(zlib(cose)) by hand, so that the encoder under test cannot hide a bug."""
    encoded: bytes = base45.b45encode(zlib.compress(cose) if compress else cose)
    return "HC1:" + encoded.decode("ascii")


def cose_of(qr: str) -> list[Any]:
    """The four elements of the COSE_Sign1 inside an HC1 text, decoded by hand."""
    item = cbor2.loads(zlib.decompress(base45.b45decode(qr[4:])))
    while isinstance(item, cbor2.CBORTag):
        item = item.value
    return list(item)


def rebuilt(qr: str, **changes: Any) -> str:  # noqa: ANN401 - any CBOR value, malformed on purpose
    """The same COSE_Sign1 (tag 18) with some of ``protected``, ``unprotected``, ``payload``, ``signature`` swapped."""
    parts = dict(zip(("protected", "unprotected", "payload", "signature"), cose_of(qr), strict=True))
    parts.update(changes)
    return hand_text(cbor2.dumps(cbor2.CBORTag(18, list(parts.values()))))


@dataclass(frozen=True)
class Scan:
    text: str
    trust: TrustList
    now: float = NOW
    clock: ClockState | None = None
    revocations: frozenset[bytes] = field(default_factory=frozenset)

    def verdict(self) -> Verdict:
        return decide(self.text, trust=self.trust, revocations=self.revocations, now=self.now, clock=self.clock)


def plain(alg: Alg, **kwargs: Any) -> Scan:  # noqa: ANN401
    return Scan(text(dsc(alg)), trust(dsc(alg)), **kwargs)


def revoked(alg: Alg) -> Scan:
    qr = text(dsc(alg))
    return Scan(qr, trust(dsc(alg)), revocations=frozenset({hc1_signature_rid(ISS, cose_of(qr)[3])}))


def flipped_signature(alg: Alg) -> Scan:
    qr = text(dsc(alg))
    signature = bytearray(cose_of(qr)[3])
    signature[-1] ^= 1
    return Scan(rebuilt(qr, signature=bytes(signature)), trust(dsc(alg)))


def dangling(qr: str) -> str:
    """The text cut to whole Base45 triples plus one character: never valid Base45 (RFC 9285)."""
    return qr[: len(qr) - (len(qr) - 4) % 3] + "A"


def zlib_bomb(alg: Alg) -> Scan:
    return Scan(hand_text(bytes(2_000_000)), trust(dsc(alg)))


other_family = {Alg.ES256: -37, Alg.PS256: -7}

ROWS: list[tuple[str, Reason, Callable[[Alg], Scan]]] = [
    ("ok", Reason.OK, plain),
    ("expired-at-exp", Reason.EXPIRED, lambda a: plain(a, now=EXP)),
    ("expired-after-exp", Reason.EXPIRED, lambda a: plain(a, now=EXP + DAY_S)),
    ("not-yet-valid", Reason.NOT_YET_VALID, lambda a: plain(a, now=IAT - 1)),
    ("clock-behind-last-trusted", Reason.CLOCK_UNSYNCED, lambda a: plain(a, clock=ClockState(NOW + 60))),
    ("revoked-signature", Reason.REVOKED, revoked),
    ("other-prefix", Reason.BAD_PREFIX, lambda a: Scan("HC2:" + text(dsc(a))[4:], trust(dsc(a)))),
    ("lower-case-prefix", Reason.BAD_PREFIX, lambda a: Scan("hc1:" + text(dsc(a))[4:], trust(dsc(a)))),
    ("not-base45", Reason.BAD_BASE45, lambda a: Scan("HC1:6BF~" + text(dsc(a))[8:], trust(dsc(a)))),
    ("base45-dangling-char", Reason.BAD_BASE45, lambda a: Scan(dangling(text(dsc(a))), trust(dsc(a)))),
    ("base45-triple-overflow", Reason.BAD_BASE45, lambda a: Scan("HC1::::" + text(dsc(a))[4:], trust(dsc(a)))),
    ("not-compressed", Reason.BAD_ZLIB, lambda a: Scan(hand_text(cbor2.dumps([1]), compress=False), trust(dsc(a)))),
    ("text-over-4k", Reason.TOO_LARGE, lambda a: Scan("HC1:" + "A" * 5000, trust(dsc(a)))),
    ("zlib-bomb", Reason.TOO_LARGE, zlib_bomb),
    ("three-element-cose", Reason.BAD_COSE, lambda a: Scan(hand_text(cbor2.dumps(cose_of(text(dsc(a)))[:3])), trust())),
    ("protected-not-bytes", Reason.BAD_COSE, lambda a: Scan(rebuilt(text(dsc(a)), protected={1: -7}), trust(dsc(a)))),
    ("no-kid", Reason.BAD_COSE, lambda a: Scan(text(dsc(a), kid_place=dcc.KidPlace.NONE), trust(dsc(a)))),
    ("payload-not-map", Reason.BAD_CBOR, lambda a: Scan(text(dsc(a), [1, 2]), trust(dsc(a)))),
    ("payload-not-cbor", Reason.BAD_CBOR, lambda a: Scan(text(dsc(a), b"\xff\x00"), trust(dsc(a)))),
    ("no-exp", Reason.BAD_CBOR, lambda a: Scan(text(dsc(a), {k: v for k, v in claims().items() if k != 4}), trust())),
    ("iat-as-text", Reason.BAD_CBOR, lambda a: Scan(text(dsc(a), claims(iat="yesterday")), trust(dsc(a)))),
    ("kid-not-listed", Reason.UNKNOWN_KID, lambda a: Scan(text(dsc(a)), trust(dsc(a, index=1)))),
    ("empty-trust-list", Reason.UNKNOWN_KID, lambda a: Scan(text(dsc(a)), TrustList.empty())),
    ("signature-flipped", Reason.BAD_SIGNATURE, flipped_signature),
    (
        "signed-by-another-key",
        Reason.BAD_SIGNATURE,
        lambda a: Scan(text(dsc(a, index=1), kid=dsc(a).kid), trust(dsc(a))),
    ),
    (
        "dsc-for-tests-only",
        Reason.UNTRUSTED_ISSUER,
        lambda a: Scan(text(dsc(a, frozenset({T}))), trust(dsc(a, frozenset({T})))),
    ),
    ("alg-es384", Reason.UNSUPPORTED_ALG, lambda a: Scan(text(dsc(a), alg=-35), trust(dsc(a)))),
    ("alg-eddsa", Reason.UNSUPPORTED_ALG, lambda a: Scan(text(dsc(a), alg=-8), trust(dsc(a)))),
    ("alg-not-the-dsc-key", Reason.UNSUPPORTED_ALG, lambda a: Scan(text(dsc(a), alg=other_family[a]), trust(dsc(a)))),
    ("alg-only-unprotected", Reason.UNSUPPORTED_ALG, lambda a: Scan(text(dsc(a), alg_unprotected=True), trust(dsc(a)))),
]


def test_every_hc1_reason_has_a_row() -> None:
    hc1_reasons = set(Reason) - {Reason.STATUS_YELLOW, Reason.STATUS_RED, Reason.LISTS_STALE}
    assert {reason for _, reason, _ in ROWS} == hc1_reasons


@pytest.mark.parametrize("alg", ALGS, ids=[a.name for a in ALGS])
@pytest.mark.parametrize(("name", "reason", "scan"), ROWS, ids=[row[0] for row in ROWS])
def test_reason(alg: Alg, name: str, reason: Reason, scan: Callable[[Alg], Scan]) -> None:
    verdict = scan(alg).verdict()
    assert verdict.reason is reason, name
    assert verdict.decision is reason.decision
    assert verdict.kind == (None if name in ("other-prefix", "lower-case-prefix", "text-over-4k") else "HC1")


@pytest.mark.parametrize("alg", ALGS, ids=[a.name for a in ALGS])
@pytest.mark.parametrize("kind", [V, T, RC], ids=str)
def test_type_is_reported(alg: Alg, kind: DccType) -> None:
    verdict = Scan(text(dsc(alg), claims(kind)), trust(dsc(alg))).verdict()
    assert (verdict.decision, verdict.reason, verdict.status) == (Decision.PASS, Reason.OK, kind.value)
    assert (verdict.iss, verdict.kid, verdict.exp) == (ISS, dsc(alg).kid, EXP)


@pytest.mark.parametrize("alg", ALGS, ids=[a.name for a in ALGS])
def test_the_verdict_names_the_signature_rid_and_no_personal_data(alg: Alg) -> None:
    qr = text(dsc(alg))
    verdict = Scan(qr, trust(dsc(alg))).verdict()
    assert verdict.rid == hc1_signature_rid(ISS, cose_of(qr)[3])
    shown = str(verdict.to_json())
    assert not any(secret in shown for secret in (*dcc.FAKE_NAME.values(), dcc.FAKE_DOB, "UVCI"))


# What real issuers emit -------------------------------------------------------------------------------------------

REAL_WORLD: list[tuple[str, dict[str, Any]]] = [
    ("kid-only-unprotected", {"kid_place": dcc.KidPlace.UNPROTECTED}),
    ("kid-in-both", {"kid_place": dcc.KidPlace.BOTH}),
    ("kid-unprotected-differs", {"unprotected": {4: b"foo"}}),
    ("tag-61-around-18", {"tags": (61, 18)}),
    ("untagged", {"tags": ()}),
    ("tag-61-only", {"tags": (61,)}),
]


@pytest.mark.parametrize("alg", ALGS, ids=[a.name for a in ALGS])
@pytest.mark.parametrize(("name", "cose"), REAL_WORLD, ids=[row[0] for row in REAL_WORLD])
def test_real_world_envelopes_pass(alg: Alg, name: str, cose: dict[str, Any]) -> None:
    assert Scan(text(dsc(alg), **cose), trust(dsc(alg))).verdict().reason is Reason.OK, name


@pytest.mark.parametrize("alg", ALGS, ids=[a.name for a in ALGS])
def test_the_protected_kid_wins_over_a_right_unprotected_one(alg: Alg) -> None:
    qr = text(dsc(alg), kid=b"wrongkid", unprotected={4: dsc(alg).kid})
    assert Scan(qr, trust(dsc(alg))).verdict().reason is Reason.UNKNOWN_KID


@pytest.mark.parametrize("alg", ALGS, ids=[a.name for a in ALGS])
def test_float_times(alg: Alg) -> None:
    qr = text(dsc(alg), claims(iat=IAT + 0.25, exp=EXP + 0.5))
    scan = Scan(qr, trust(dsc(alg)))
    assert Scan(qr, scan.trust, now=EXP + 0.25).verdict().reason is Reason.OK
    assert Scan(qr, scan.trust, now=EXP + 0.5).verdict().reason is Reason.EXPIRED
    assert Scan(qr, scan.trust, now=IAT).verdict().reason is Reason.NOT_YET_VALID
    assert Scan(qr, scan.trust, now=IAT + 0.25).verdict().exp == EXP + 0.5


def _indefinite_map(pairs: dict[Any, bytes]) -> bytes:
    return b"\xbf" + b"".join(cbor2.dumps(key) + value for key, value in pairs.items()) + b"\xff"


@pytest.mark.parametrize("alg", ALGS, ids=[a.name for a in ALGS])
def test_indefinite_length_maps(alg: Alg) -> None:
    made = claims(T)
    dcc_map = _indefinite_map({key: cbor2.dumps(value) for key, value in made[-260][1].items()})
    payload = _indefinite_map(
        {1: cbor2.dumps(ISS), 4: cbor2.dumps(EXP), 6: cbor2.dumps(IAT), -260: _indefinite_map({1: dcc_map})}
    )
    verdict = Scan(text(dsc(alg), payload), trust(dsc(alg))).verdict()
    assert (verdict.reason, verdict.status) == (Reason.OK, "test")


@pytest.mark.parametrize(("alg", "size"), [(Alg.PS256, 3072), (Alg.ES256, 384)], ids=["RSA-3072", "P-384"])
def test_other_key_sizes(alg: Alg, size: int) -> None:
    """Issuers sign PS256 with RSA keys beyond 2048 bits, and some ES256 with a P-384 DSC (ECDSA with SHA-256)."""
    big = dsc(alg, size=size)
    assert Scan(text(big), trust(big)).verdict().reason is Reason.OK
    assert Scan(flipped_signature_of(text(big)), trust(big)).verdict().reason is Reason.BAD_SIGNATURE


def flipped_signature_of(qr: str) -> str:
    signature = bytearray(cose_of(qr)[3])
    signature[0] ^= 0x40
    return rebuilt(qr, signature=bytes(signature))


def test_a_short_rsa_key_verifies_nothing() -> None:
    small_key = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 - refused on purpose
    small = dcc.make_dsc(small_key, not_before=0, not_after=EXP)
    assert Scan(text(small), trust(small)).verdict().reason is Reason.UNSUPPORTED_ALG


@pytest.mark.parametrize(
    ("dcc_changes", "reason", "status"),
    [
        ({"v": [{"tg": "840539006"}, {"tg": "840539006"}]}, Reason.OK, "vaccination"),  # two doses, pre-1.3.0
        ({"t": None, "r": None}, Reason.OK, "vaccination"),  # groups mapped to null count as absent
        ({"t": [{"tg": "840539006"}]}, Reason.BAD_CBOR, None),  # vaccination and test at once
        ({"v": []}, Reason.BAD_CBOR, None),
        ({"v": ["not an entry"]}, Reason.BAD_CBOR, None),
        ({"nam": "EXAMPLE"}, Reason.BAD_CBOR, None),
        ({"ver": 1}, Reason.BAD_CBOR, None),
    ],
)
def test_dcc_structure(dcc_changes: dict[str, Any], reason: Reason, status: str | None) -> None:
    made = claims(V)
    made[-260][1].update(dcc_changes)
    verdict = Scan(text(dsc(Alg.ES256), made), trust(dsc(Alg.ES256))).verdict()
    assert (verdict.reason, verdict.status) == (reason, status)


def test_a_long_issuer_name_is_read() -> None:
    iss = "Ministry of Health of an example country, Department of Certificates"
    verdict = Scan(text(dsc(Alg.ES256), claims(iss=iss)), trust(dsc(Alg.ES256))).verdict()
    assert (verdict.reason, verdict.iss) == (Reason.OK, iss)


# Key usage of the DSC ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", [V, T, RC], ids=str)
@pytest.mark.parametrize("allowed", [frozenset({V}), frozenset({T}), frozenset({RC}), frozenset({T, RC})], ids=str)
def test_key_usage_restricts_the_types(kind: DccType, allowed: frozenset[DccType]) -> None:
    restricted = dsc(Alg.ES256, allowed)
    verdict = Scan(text(restricted, claims(kind)), trust(restricted)).verdict()
    assert verdict.reason is (Reason.OK if kind in allowed else Reason.UNTRUSTED_ISSUER)


def test_the_stray_zero_oids_restrict_too() -> None:
    legacy = dcc.make_dsc(signer(Alg.ES256), not_before=0, not_after=EXP, extra_usages=["1.3.6.1.4.1.0.1847.2021.1.1"])
    assert Scan(text(legacy, claims(V)), trust(legacy)).verdict().reason is Reason.UNTRUSTED_ISSUER
    assert Scan(text(legacy, claims(T)), trust(legacy)).verdict().reason is Reason.OK


def _certificate(key: dcc.DccSigningKey, eku: x509.ExtendedKeyUsage) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "gridpass test DSC")])
    builder = x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
    builder = builder.serial_number(1).not_valid_before(datetime(2020, 1, 1, tzinfo=UTC))
    builder = builder.not_valid_after(datetime(2040, 1, 1, tzinfo=UTC)).add_extension(eku, critical=False)
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def test_no_dcc_oid_in_the_key_usage_allows_every_type() -> None:
    server_auth = _certificate(signer(Alg.ES256), x509.ExtendedKeyUsage([x509.ObjectIdentifier("1.3.6.1.5.5.7.3.1")]))
    assert load_signing_certificate(server_auth).allowed_types is None
    empty = _certificate(signer(Alg.ES256), x509.ExtendedKeyUsage([]))  # not strict DER: SIZE (1..MAX)
    assert load_signing_certificate(empty).allowed_types is None


def _tlv(tag: int, content: bytes) -> bytes:
    size = len(content)
    width = (size.bit_length() + 7) // 8
    length = bytes([size]) if size < 0x80 else bytes([0x80 | width]) + size.to_bytes(width, "big")
    return bytes([tag]) + length + content


def _items(der: bytes) -> list[bytes]:
    """The TLVs inside one DER SEQUENCE (whole, as bytes)."""
    content = der[2:] if der[1] < 0x80 else der[2 + (der[1] & 0x7F) :]
    items, pos = [], 0
    while pos < len(content):
        head = 2 if content[pos + 1] < 0x80 else 2 + (content[pos + 1] & 0x7F)
        size = content[pos + 1] if head == 2 else int.from_bytes(content[pos + 2 : pos + head], "big")
        items.append(content[pos : pos + head + size])
        pos += head + size
    return items


def test_a_dsc_with_a_non_der_extension_keeps_its_key_usage() -> None:
    """Some national DSCs encode BasicConstraints' default cA FALSE, which strict DER parsers refuse."""
    good = _certificate(signer(Alg.ES256), x509.ExtendedKeyUsage([x509.ObjectIdentifier(dcc.DSC_EKU_OIDS[T])]))
    certificate, tbs = _items(good), _items(_items(good)[0])
    basic_constraints = _tlv(0x30, _tlv(0x06, bytes.fromhex("551d13")) + _tlv(0x04, _tlv(0x30, b"\x01\x01\x00")))
    extensions = [*_items(_items(tbs[-1])[0]), basic_constraints]
    tbs[-1] = _tlv(0xA3, _tlv(0x30, b"".join(extensions)))
    bent = _tlv(0x30, _tlv(0x30, b"".join(tbs)) + b"".join(certificate[1:]))
    with pytest.raises(ValueError, match="asn1"):
        _ = x509.load_der_x509_certificate(bent).extensions
    loaded = load_signing_certificate(bent)
    assert loaded.allowed_types == frozenset({T})
    assert loaded.alg is Alg.ES256
    key = signer(Alg.ES256)
    bent_dsc = dcc.Dsc(key, bent)
    assert Scan(text(bent_dsc, claims(T)), trust(bent_dsc)).verdict().reason is Reason.OK
    assert Scan(text(bent_dsc, claims(V)), trust(bent_dsc)).verdict().reason is Reason.UNTRUSTED_ISSUER


def test_a_dsc_strict_parsers_refuse_is_still_read() -> None:
    """A zero-padded serial number (not minimal DER) makes ``cryptography`` refuse the whole certificate."""
    good = _certificate(signer(Alg.PS256), x509.ExtendedKeyUsage([x509.ObjectIdentifier(dcc.DSC_EKU_OIDS[RC])]))
    certificate, tbs = _items(good), _items(_items(good)[0])
    tbs[1] = _tlv(0x02, b"\x00\x01")
    bent = _tlv(0x30, _tlv(0x30, b"".join(tbs)) + b"".join(certificate[1:]))
    with pytest.raises(ValueError, match="asn1"):
        x509.load_der_x509_certificate(bent)
    bent_dsc = dcc.Dsc(signer(Alg.PS256), bent)
    assert load_signing_certificate(bent).allowed_types == frozenset({RC})
    assert Scan(text(bent_dsc, claims(RC)), trust(bent_dsc)).verdict().reason is Reason.OK
    assert Scan(text(bent_dsc, claims(T)), trust(bent_dsc)).verdict().reason is Reason.UNTRUSTED_ISSUER


@pytest.mark.parametrize("junk", [b"", b"\x30\x00", b"\x30\x03\x30\x01\x00", b"not a certificate", b"\x30\x84"])
def test_junk_is_no_certificate(junk: bytes) -> None:
    with pytest.raises(CertificateError):
        load_signing_certificate(junk)


def test_district_tool_round_trip() -> None:
    """``issue`` makes what a checkpoint passes, with PS256's 32-byte salt and the kid of the DSC."""
    for alg in ALGS:
        for cwt_tag in (False, True):
            qr = dcc.issue(dsc(alg), RC, iat=IAT, exp=EXP, cwt_tag=cwt_tag)
            assert Scan(qr, trust(dsc(alg))).verdict().status == "recovery"
            assert cbor2.loads(cose_of(qr)[0]) == {1: int(alg), 4: dsc(alg).kid}
