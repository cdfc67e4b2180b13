"""Keys, key ids and the three signature algorithms of the specs: ES256 (raw r||s), EdDSA (Ed25519), PS256.

Everything here is a thin layer over ``cryptography``; no signature arithmetic of our own.
"""

from __future__ import annotations

import hashlib
from enum import IntEnum

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

PublicKey = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | rsa.RSAPublicKey
PrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey

KID_BYTES = 8
P256_COORDINATE_BYTES = 32
_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())
"""Built once: an immutable algorithm description, needed on every scan."""


class Alg(IntEnum):
    """COSE algorithm identifiers (RFC 9053 and the IANA registry) that gridpass knows."""

    ES256 = -7
    EDDSA = -8
    PS256 = -37


class KeyFormatError(ValueError):
    """A key or certificate could not be loaded or is of a kind the specs do not allow."""


def spki_der(public_key: PublicKey) -> bytes:
    """DER SubjectPublicKeyInfo of a public key: what kids and trust lists are computed over."""
    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def kid_of_public_key(public_key: PublicKey) -> bytes:
    """GP1 kid: first 8 bytes of SHA-256 over the key's DER SubjectPublicKeyInfo."""
    return hashlib.sha256(spki_der(public_key)).digest()[:KID_BYTES]


def kid_of_certificate(certificate_der: bytes) -> bytes:
    """HC1 kid: first 8 bytes of SHA-256 over the DSC certificate's DER."""
    return hashlib.sha256(certificate_der).digest()[:KID_BYTES]


def alg_of_public_key(public_key: PublicKey) -> Alg | None:
    """The one algorithm a key may sign with here, or None for a key of another kind (e.g. P-384)."""
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        return Alg.EDDSA
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return Alg.ES256 if isinstance(public_key.curve, ec.SECP256R1) else None
    return Alg.PS256 if public_key.key_size >= 2048 else None


def _as_public_key(key: object) -> PublicKey:
    if isinstance(key, ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | rsa.RSAPublicKey):
        return key
    raise KeyFormatError(f"unsupported public key type {type(key).__name__}: use P-256, Ed25519 or RSA")


def load_public_key_der(data: bytes) -> PublicKey:
    """A public key from DER SubjectPublicKeyInfo."""
    try:
        return _as_public_key(serialization.load_der_public_key(data))
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise KeyFormatError("not a DER SubjectPublicKeyInfo of a key type gridpass knows") from exc


def load_public_key_pem(data: bytes) -> PublicKey:
    """A public key from PEM: a PUBLIC KEY block, or a CERTIFICATE whose key is taken, or a private key's half."""
    if b"-----BEGIN CERTIFICATE-----" in data:
        from cryptography import x509  # noqa: PLC0415 - only this branch needs X.509

        try:
            return _as_public_key(x509.load_pem_x509_certificate(data).public_key())
        except ValueError as exc:
            raise KeyFormatError("not a PEM certificate") from exc
    if b"PRIVATE KEY-----" in data:
        return load_private_key_pem(data).public_key()
    try:
        return _as_public_key(serialization.load_pem_public_key(data))
    except (ValueError, TypeError) as exc:
        raise KeyFormatError("not a PEM public key: expected '-----BEGIN PUBLIC KEY-----'") from exc


def load_private_key_pem(data: bytes) -> PrivateKey:
    """A signing key from unencrypted PKCS#8 PEM (P-256 or Ed25519)."""
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise KeyFormatError("not an unencrypted PEM private key") from exc
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key
    if isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1):
        return key
    raise KeyFormatError(f"unsupported private key type {type(key).__name__}: use P-256 (ES256) or Ed25519 (EdDSA)")


def generate_private_key(alg: Alg) -> PrivateKey:
    """A fresh signing key for ES256 or EdDSA."""
    if alg is Alg.ES256:
        return ec.generate_private_key(ec.SECP256R1())
    if alg is Alg.EDDSA:
        return ed25519.Ed25519PrivateKey.generate()
    raise KeyFormatError(f"gridpass does not generate {alg.name} keys: use ES256 or EdDSA")


def private_key_pem(key: PrivateKey) -> bytes:
    """PKCS#8 PEM, unencrypted: the caller writes it with mode 0600."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def public_key_pem(key: PublicKey) -> bytes:
    """SubjectPublicKeyInfo PEM."""
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def alg_of_private_key(key: PrivateKey) -> Alg:
    """The algorithm a signing key signs with."""
    return Alg.EDDSA if isinstance(key, ed25519.Ed25519PrivateKey) else Alg.ES256


def sign(key: PrivateKey, data: bytes) -> bytes:
    """Sign ``data``; ES256 signatures come out in COSE's 64-byte raw r||s form."""
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(data)
    r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
    return r.to_bytes(P256_COORDINATE_BYTES, "big") + s.to_bytes(P256_COORDINATE_BYTES, "big")


def verify(public_key: PublicKey, alg: Alg, data: bytes, signature: bytes) -> bool:
    """True when ``signature`` is ``alg``'s valid signature of ``data`` under ``public_key``.

    The caller has already matched ``alg`` to the key (``alg_of_public_key``); a mismatch here is simply False.
    """
    try:
        if alg is Alg.EDDSA and isinstance(public_key, ed25519.Ed25519PublicKey):
            public_key.verify(signature, data)
            return True
        if alg is Alg.ES256 and isinstance(public_key, ec.EllipticCurvePublicKey):
            if len(signature) != 2 * P256_COORDINATE_BYTES:
                return False
            r = int.from_bytes(signature[:P256_COORDINATE_BYTES], "big")
            s = int.from_bytes(signature[P256_COORDINATE_BYTES:], "big")
            public_key.verify(encode_dss_signature(r, s), data, _ECDSA_SHA256)
            return True
        if alg is Alg.PS256 and isinstance(public_key, rsa.RSAPublicKey):
            pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.AUTO)
            public_key.verify(signature, data, pss, hashes.SHA256())
            return True
    except (InvalidSignature, ValueError):
        return False
    return False
