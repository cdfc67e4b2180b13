"""EU DCC document signer certificates (DSCs): kid, key, algorithm, signature check and the types they may sign.

A DSC may carry extended key usages that restrict it to test, vaccination or recovery certificates (the EU
"Technical Specifications for DCC", volume 1). Both the published OIDs and the variant with the stray ``.0.``
found in early national implementations are honoured. A DSC with none of them may sign every type.

Real DSCs are not always strict DER (an explicitly encoded default in BasicConstraints, an empty extended key
usage): when ``cryptography`` refuses a certificate or its extensions, the public key and the extended key usage are
read with asn1crypto, which is lenient where DER is not strict, instead of dropping a certificate the root vouched for.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from protocol.keys import Alg, KeyFormatError, PublicKey, kid_of_certificate, load_public_key_der, verify

MAX_DSC_BYTES = 16 * 1024
MIN_RSA_BITS = 2048
_EC_CURVES = (ec.SECP256R1, ec.SECP384R1, ec.SECP521R1)


class DccType(StrEnum):
    """The three kinds of EU Digital COVID Certificate."""

    VACCINATION = "vaccination"
    TEST = "test"
    RECOVERY = "recovery"


_EKU_TYPES: dict[str, DccType] = {}
for _prefix in ("1.3.6.1.4.1.1847.2021.1.", "1.3.6.1.4.1.0.1847.2021.1."):
    _EKU_TYPES[_prefix + "1"] = DccType.TEST
    _EKU_TYPES[_prefix + "2"] = DccType.VACCINATION
    _EKU_TYPES[_prefix + "3"] = DccType.RECOVERY


@dataclass(frozen=True, slots=True)
class SigningCertificate:
    """One DSC of a trust list, loaded once when the list is applied."""

    kid: bytes
    der: bytes
    public_key: PublicKey | None
    alg: Alg | None
    """The one HC1 algorithm the key signs with (ES256 for a NIST EC key, PS256 for RSA), or None: never verifies."""
    allowed_types: frozenset[DccType] | None
    """None: no DCC key usage, so every type may be signed."""

    def may_sign(self, dcc_type: DccType) -> bool:
        """Whether the certificate's key usage allows this certificate type."""
        return self.allowed_types is None or dcc_type in self.allowed_types

    def verifies(self, alg: Alg, data: bytes, signature: bytes) -> bool:
        """True when ``signature`` is this certificate's valid ``alg`` signature of ``data``."""
        key = self.public_key
        if key is None or alg is not self.alg:
            return False
        if alg is Alg.ES256 and isinstance(key, ec.EllipticCurvePublicKey):
            # COSE ES256 is ECDSA with SHA-256 in raw r||s form, each half as long as the curve's order.
            size = (key.curve.key_size + 7) // 8
            if len(signature) != 2 * size:
                return False
            r, s = int.from_bytes(signature[:size], "big"), int.from_bytes(signature[size:], "big")
            try:
                key.verify(encode_dss_signature(r, s), data, ec.ECDSA(hashes.SHA256()))
            except (InvalidSignature, ValueError):
                return False
            return True
        return verify(key, alg, data, signature)


class CertificateError(ValueError):
    """The bytes are not a usable DER X.509 certificate."""


def hc1_alg_of(public_key: PublicKey) -> Alg | None:
    """ES256 for P-256, P-384 and P-521 keys (COSE binds ES256 to SHA-256, not to a curve), PS256 for RSA-2048+."""
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return Alg.ES256 if isinstance(public_key.curve, _EC_CURVES) else None
    if isinstance(public_key, rsa.RSAPublicKey):
        return Alg.PS256 if public_key.key_size >= MIN_RSA_BITS else None
    return None


def load_signing_certificate(der: bytes) -> SigningCertificate:
    """Load a DSC; keys of kinds HC1 does not allow are kept with ``alg`` None (they never verify)."""
    if len(der) > MAX_DSC_BYTES:
        raise CertificateError(f"certificate of {len(der)} bytes is larger than {MAX_DSC_BYTES}")
    try:
        cert: x509.Certificate | None = x509.load_der_x509_certificate(der)
    except (ValueError, x509.InvalidVersion):  # e.g. a zero-padded serial number: read it leniently
        cert = None
    raw_key: object = None
    if cert is not None:
        try:
            raw_key = cert.public_key()
        except (ValueError, TypeError, UnsupportedAlgorithm):
            raw_key = None
        allowed = _allowed_types(cert, der)
    else:
        spki, allowed = _lenient_read(der)
        try:
            raw_key = load_public_key_der(spki)
        except (KeyFormatError, UnsupportedAlgorithm):
            raw_key = None
    public_key: PublicKey | None = None
    alg: Alg | None = None
    if isinstance(raw_key, ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | rsa.RSAPublicKey):
        public_key = raw_key
        alg = hc1_alg_of(raw_key)
    return SigningCertificate(kid_of_certificate(der), der, public_key, alg, allowed)


def _allowed_types(cert: x509.Certificate, der: bytes) -> frozenset[DccType] | None:
    try:
        usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return None
    except ValueError:  # some extension is not strict DER: read the key usage leniently
        try:
            return _lenient_read(der)[1]
        except CertificateError:
            return frozenset()  # unreadable: allow nothing rather than everything
    return _types_of_oids(oid.dotted_string for oid in usages)


def _types_of_oids(oids: Iterable[str]) -> frozenset[DccType] | None:
    types = frozenset(_EKU_TYPES[oid] for oid in oids if oid in _EKU_TYPES)
    return types or None


def _lenient_read(der: bytes) -> tuple[bytes, frozenset[DccType] | None]:
    """(DER SubjectPublicKeyInfo, allowed types) read with asn1crypto, which accepts what issuers really emit."""
    try:
        cert = asn1_x509.Certificate.load(der)
        spki = cert["tbs_certificate"]["subject_public_key_info"].dump()
        usages = cert.extended_key_usage_value
        oids = [usage.dotted for usage in usages] if usages is not None else []
    except (ValueError, TypeError, KeyError) as exc:
        raise CertificateError("not an X.509 certificate, even read leniently") from exc
    return bytes(spki), _types_of_oids(oids)
