"""Real HC1 credentials (EU Digital COVID Certificates) for tests and demos.

A document signer certificate (DSC: self-signed X.509, P-256 or RSA, optionally restricted to some certificate
types by the DCC extended key usages), a DCC payload with obviously fake holder data, a COSE_Sign1 signed ES256 or
PS256, and the QR text ``HC1:`` + Base45(zlib(COSE)). The DSC's DER goes into a trust list with
:func:`trust_list_with`. The knobs of :func:`sign_cose` (header placement of kid and alg, CBOR tags) exist so that
tests can produce what real issuers emit, and what they must not.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import cbor2
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

from protocol.codec import b45encode, cbor_dumps, deflate
from protocol.cose import COSE_SIGN1_TAG, CWT_TAG, HEADER_ALG, HEADER_KID, sig_structure
from protocol.cwt import CLAIM_EXP, CLAIM_HCERT, CLAIM_IAT, CLAIM_ISS
from protocol.dsc import DccType
from protocol.hc1 import HCERT_DCC, PREFIX
from protocol.keys import Alg, PrivateKey, kid_of_certificate, sign
from protocol.trustlist import build_trust_list

DccSigningKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey

PSS_SALT_BYTES = 32
"""The EU DCC's PS256: RSASSA-PSS, SHA-256, MGF1 with SHA-256, 32-byte salt."""
DEFAULT_RSA_BITS = 2048
DEFAULT_COUNTRY = "XX"
"""A user-assigned ISO 3166 code: never a real issuing country."""
SCHEMA_VERSION = "1.3.0"
DSC_EKU_OIDS: dict[DccType, str] = {
    DccType.TEST: "1.3.6.1.4.1.1847.2021.1.1",
    DccType.VACCINATION: "1.3.6.1.4.1.1847.2021.1.2",
    DccType.RECOVERY: "1.3.6.1.4.1.1847.2021.1.3",
}
FAKE_NAME = {"fn": "Example", "fnt": "EXAMPLE", "gn": "Test", "gnt": "TEST"}
FAKE_DOB = "1990-01-01"
_GROUP_KEY = {DccType.VACCINATION: "v", DccType.TEST: "t", DccType.RECOVERY: "r"}
_ENTRY: dict[DccType, dict[str, Any]] = {
    DccType.VACCINATION: {
        "tg": "840539006",
        "vp": "1119349007",
        "mp": "EU/1/20/1528",
        "ma": "ORG-100030215",
        "dn": 2,
        "sd": 2,
        "dt": "2021-06-01",
    },
    DccType.TEST: {
        "tg": "840539006",
        "tt": "LP6464-4",
        "nm": "Example PCR",
        "sc": "2021-06-01T10:00:00Z",
        "tr": "260415000",
        "tc": "Example test centre",
    },
    DccType.RECOVERY: {"tg": "840539006", "fr": "2021-05-01", "df": "2021-05-12", "du": "2021-10-28"},
}


class KidPlace(StrEnum):
    """Where :func:`sign_cose` puts the kid."""

    PROTECTED = "protected"
    UNPROTECTED = "unprotected"
    BOTH = "both"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class Dsc:
    """A document signer: its private key and its self-signed certificate (DER)."""

    key: DccSigningKey
    der: bytes

    @property
    def kid(self) -> bytes:
        """HC1 kid: the first 8 bytes of SHA-256 over the certificate DER."""
        return kid_of_certificate(self.der)

    @property
    def alg(self) -> Alg:
        """The algorithm this DSC signs with."""
        return alg_of_dcc_key(self.key)


def alg_of_dcc_key(key: DccSigningKey) -> Alg:
    """ES256 for an EC key, PS256 for RSA."""
    return Alg.PS256 if isinstance(key, rsa.RSAPrivateKey) else Alg.ES256


def generate_dcc_key(alg: Alg = Alg.ES256, *, rsa_bits: int = DEFAULT_RSA_BITS) -> DccSigningKey:
    """A fresh P-256 (ES256) or RSA (PS256) signing key."""
    if alg is Alg.ES256:
        return ec.generate_private_key(ec.SECP256R1())
    if alg is Alg.PS256:
        return rsa.generate_private_key(public_exponent=65537, key_size=rsa_bits)
    raise ValueError(f"an EU DCC is signed ES256 or PS256, not {alg.name}")


def make_dsc(
    key: DccSigningKey,
    *,
    not_before: float,
    not_after: float,
    country: str = DEFAULT_COUNTRY,
    types: Iterable[DccType] | None = None,
    extra_usages: Iterable[str] = (),
) -> Dsc:
    """A self-signed DSC for ``key``; ``types`` adds the DCC extended key usages that restrict what it may sign."""
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, country),
            x509.NameAttribute(NameOID.COMMON_NAME, "gridpass test DSC"),
        ]
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(datetime.fromtimestamp(not_before, UTC))
        .not_valid_after(datetime.fromtimestamp(not_after, UTC))
    )
    usages = [DSC_EKU_OIDS[kind] for kind in types or ()] + list(extra_usages)
    if usages:
        eku = x509.ExtendedKeyUsage([x509.ObjectIdentifier(oid) for oid in usages])
        builder = builder.add_extension(eku, critical=False)
    certificate = builder.sign(key, hashes.SHA256())
    return Dsc(key, certificate.public_bytes(serialization.Encoding.DER))


def dcc_claims(
    kind: DccType,
    *,
    iat: float,
    exp: float,
    iss: str = DEFAULT_COUNTRY,
    version: str = SCHEMA_VERSION,
    entries: int = 1,
) -> dict[int, Any]:
    """CWT claims of a DCC of ``kind`` with fake holder data: ``{1: iss, 4: exp, 6: iat, -260: {1: DCC}}``."""
    entry = {
        **_ENTRY[kind],
        "co": iss[:2],
        "is": "Example issuer",
        "ci": f"URN:UVCI:01:{iss[:2]}:EXAMPLE0000000000#0",
    }
    dcc = {
        "ver": version,
        "nam": dict(FAKE_NAME),
        "dob": FAKE_DOB,
        _GROUP_KEY[kind]: [dict(entry) for _ in range(entries)],
    }
    return {CLAIM_ISS: iss, CLAIM_EXP: exp, CLAIM_IAT: iat, CLAIM_HCERT: {HCERT_DCC: dcc}}


def sign_with(key: DccSigningKey, data: bytes) -> bytes:
    """ES256 (raw r||s; P-256 via :mod:`protocol.keys`) or PS256 (RSASSA-PSS, SHA-256, 32-byte salt)."""
    if isinstance(key, rsa.RSAPrivateKey):
        pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=PSS_SALT_BYTES)
        return key.sign(data, pss, hashes.SHA256())
    if isinstance(key.curve, ec.SECP256R1):
        return sign(key, data)
    # ES256 on a larger curve (some issuers' DSCs are P-384): ECDSA with SHA-256, halves as long as the curve's order.
    size = (key.curve.key_size + 7) // 8
    r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
    return r.to_bytes(size, "big") + s.to_bytes(size, "big")


def sign_cose(
    payload: bytes,
    key: DccSigningKey,
    *,
    kid: bytes | None,
    kid_place: KidPlace = KidPlace.PROTECTED,
    alg: int | None = None,
    alg_unprotected: bool = False,
    tags: tuple[int, ...] = (COSE_SIGN1_TAG,),
    unprotected: Mapping[int, Any] | None = None,
) -> bytes:
    """A COSE_Sign1 over ``payload``: ``alg`` (default: the key's) and ``kid`` in the headers the caller names.

    ``tags`` wrap the message outermost first: ``(18,)`` is the usual, ``()`` untagged, ``(61, 18)`` what some DCC
    issuers emit.
    """
    alg_value = int(alg_of_dcc_key(key)) if alg is None else alg
    protected: dict[int, Any] = {} if alg_unprotected else {HEADER_ALG: alg_value}
    unprotected_map: dict[int, Any] = dict(unprotected or {})
    if alg_unprotected:
        unprotected_map[HEADER_ALG] = alg_value
    if kid is not None and kid_place in (KidPlace.PROTECTED, KidPlace.BOTH):
        protected[HEADER_KID] = kid
    if kid is not None and kid_place in (KidPlace.UNPROTECTED, KidPlace.BOTH):
        unprotected_map[HEADER_KID] = kid
    protected_bytes = cbor_dumps(protected) if protected else b""
    signature = sign_with(key, sig_structure(protected_bytes, payload))
    message: object = [protected_bytes, unprotected_map, payload, signature]
    for tag in reversed(tags):
        message = cbor2.CBORTag(tag, message)
    return cbor2.dumps(message)


def qr_text(cose: bytes) -> str:
    """``HC1:`` + Base45(zlib(COSE))."""
    return PREFIX + b45encode(deflate(cose))


def issue(
    dsc: Dsc,
    kind: DccType,
    *,
    iat: float,
    exp: float,
    iss: str = DEFAULT_COUNTRY,
    cwt_tag: bool = False,
) -> str:
    """The QR text of a DCC of ``kind`` signed by ``dsc``, kid in the protected header, tagged 18 (in 61 if asked)."""
    payload = cbor_dumps(dcc_claims(kind, iat=iat, exp=exp, iss=iss))
    tags = (CWT_TAG, COSE_SIGN1_TAG) if cwt_tag else (COSE_SIGN1_TAG,)
    return qr_text(sign_cose(payload, dsc.key, kid=dsc.kid, tags=tags))


def trust_list_with(root_key: PrivateKey, dscs: Iterable[Dsc | bytes], *, seq: int, ts: int) -> bytes:
    """A root-signed trust list holding these DSCs (objects or certificate DER) and no GP1 issuer."""
    ders = [dsc.der if isinstance(dsc, Dsc) else dsc for dsc in dscs]
    return build_trust_list(root_key, seq=seq, ts=ts, issuers=[], dscs=ders)
