"""EU DCC document signer certificates (DSCs): kid, key, algorithm and the certificate types they may sign.

A DSC may carry extended key usages that restrict it to test, vaccination or recovery certificates (the EU
"Technical Specifications for DCC", volume 1). Both the published OIDs and the variant with the stray ``.0.``
found in early national implementations are honoured. A DSC with none of them may sign every type.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from cryptography import x509

from protocol.keys import Alg, PublicKey, alg_of_public_key, kid_of_certificate

MAX_DSC_BYTES = 16 * 1024


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
    allowed_types: frozenset[DccType] | None
    """None: no DCC key usage, so every type may be signed."""

    def may_sign(self, dcc_type: DccType) -> bool:
        """Whether the certificate's key usage allows this certificate type."""
        return self.allowed_types is None or dcc_type in self.allowed_types


class CertificateError(ValueError):
    """The bytes are not a usable DER X.509 certificate."""


def load_signing_certificate(der: bytes) -> SigningCertificate:
    """Load a DSC; keys of kinds the spec does not allow are kept with ``alg`` None (they never verify)."""
    if len(der) > MAX_DSC_BYTES:
        raise CertificateError(f"certificate of {len(der)} bytes is larger than {MAX_DSC_BYTES}")
    try:
        cert = x509.load_der_x509_certificate(der)
        raw_key = cert.public_key()
    except (ValueError, TypeError) as exc:
        raise CertificateError("not a DER X.509 certificate") from exc
    public_key: PublicKey | None = None
    alg: Alg | None = None
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa  # noqa: PLC0415

    if isinstance(raw_key, ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | rsa.RSAPublicKey):
        public_key = raw_key
        alg = alg_of_public_key(raw_key)
    return SigningCertificate(kid_of_certificate(der), der, public_key, alg, _allowed_types(cert))


def _allowed_types(cert: x509.Certificate) -> frozenset[DccType] | None:
    try:
        usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return None
    except ValueError:  # a malformed extension: allow nothing rather than everything
        return frozenset()
    types = frozenset(_EKU_TYPES[oid.dotted_string] for oid in usages if oid.dotted_string in _EKU_TYPES)
    return types or None
