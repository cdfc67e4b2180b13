"""Keys, kids and the signature algorithms: ES256 as raw r||s, EdDSA, PS256, all checked against ``cryptography``."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, x25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.keys import (
    Alg,
    KeyFormatError,
    PrivateKey,
    PublicKey,
    alg_of_private_key,
    alg_of_public_key,
    generate_private_key,
    kid_of_certificate,
    kid_of_public_key,
    load_private_key_pem,
    load_public_key_der,
    load_public_key_pem,
    private_key_pem,
    public_key_pem,
    sign,
    spki_der,
    verify,
)
from tests.protocol.support import GP1_ALGS, signing_key

MESSAGE = b"Signature1 bytes to be signed"


@functools.cache
def rsa_key(bits: int) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def _certificate(key: PrivateKey) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "gridpass test DSC")])
    start = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=365))
    )
    algorithm = None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return builder.sign(key, algorithm)


@pytest.mark.parametrize("alg", GP1_ALGS, ids=lambda a: a.name)
def test_kid_is_the_first_8_bytes_of_sha256_over_the_spki(alg: Alg) -> None:
    public_key = signing_key(alg).public_key()
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert spki_der(public_key) == der
    assert kid_of_public_key(public_key) == hashlib.sha256(der).digest()[:8]


def test_kid_of_a_certificate_is_over_its_der() -> None:
    der = _certificate(signing_key(Alg.ES256)).public_bytes(serialization.Encoding.DER)
    assert kid_of_certificate(der) == hashlib.sha256(der).digest()[:8]


def test_es256_signature_is_raw_r_and_s() -> None:
    key = signing_key(Alg.ES256)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    signature = sign(key, MESSAGE)
    assert len(signature) == 64
    der = key.sign(MESSAGE, ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    assert verify(key.public_key(), Alg.ES256, MESSAGE, raw)  # cryptography's signature, in COSE form
    assert not verify(key.public_key(), Alg.ES256, MESSAGE, der)  # DER is not COSE


@settings(max_examples=25)
@given(st.binary(max_size=300), st.sampled_from(GP1_ALGS))
def test_sign_then_verify(message: bytes, alg: Alg) -> None:
    key = signing_key(alg)
    signature = sign(key, message)
    assert verify(key.public_key(), alg, message, signature)
    assert not verify(key.public_key(), alg, message + b"\x00", signature)
    assert not verify(signing_key(alg, 1).public_key(), alg, message, signature)


@pytest.mark.parametrize("alg", GP1_ALGS, ids=lambda a: a.name)
@pytest.mark.parametrize(
    "mangle",
    [
        pytest.param(lambda s: s[:-1] + bytes([s[-1] ^ 1]), id="flipped-bit"),
        pytest.param(lambda s: s[:63], id="63-bytes"),
        pytest.param(lambda s: s + b"\x00", id="65-bytes"),
        pytest.param(lambda _: b"", id="empty"),
        pytest.param(lambda _: bytes(64), id="zeros"),
        pytest.param(lambda _: b"\xff" * 64, id="ones"),
        pytest.param(lambda s: s[32:] + s[:32], id="halves-swapped"),
    ],
)
def test_verify_says_false_and_never_raises(alg: Alg, mangle: object) -> None:
    assert callable(mangle)
    key = signing_key(alg)
    assert not verify(key.public_key(), alg, MESSAGE, mangle(sign(key, MESSAGE)))


def test_verify_is_false_when_the_alg_does_not_fit_the_key() -> None:
    es, ed = signing_key(Alg.ES256), signing_key(Alg.EDDSA)
    assert not verify(es.public_key(), Alg.EDDSA, MESSAGE, sign(es, MESSAGE))
    assert not verify(ed.public_key(), Alg.ES256, MESSAGE, sign(ed, MESSAGE))
    assert not verify(ed.public_key(), Alg.PS256, MESSAGE, sign(ed, MESSAGE))


def test_ps256_verifies_with_any_salt_length() -> None:
    key = rsa_key(2048)
    for salt in (32, padding.PSS.MAX_LENGTH):
        pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=salt)
        signature = key.sign(MESSAGE, pss, hashes.SHA256())
        assert verify(key.public_key(), Alg.PS256, MESSAGE, signature)
        assert not verify(key.public_key(), Alg.PS256, MESSAGE + b"!", signature)


@pytest.mark.parametrize(
    ("key", "alg"),
    [
        pytest.param(lambda: signing_key(Alg.ES256).public_key(), Alg.ES256, id="p256"),
        pytest.param(lambda: signing_key(Alg.EDDSA).public_key(), Alg.EDDSA, id="ed25519"),
        pytest.param(lambda: ec.generate_private_key(ec.SECP384R1()).public_key(), None, id="p384"),
        pytest.param(lambda: rsa_key(2048).public_key(), Alg.PS256, id="rsa2048"),
        pytest.param(lambda: rsa_key(1024).public_key(), None, id="rsa1024"),
    ],
)
def test_alg_of_public_key(key: object, alg: Alg | None) -> None:
    assert callable(key)
    assert alg_of_public_key(key()) is alg


@pytest.mark.parametrize("alg", GP1_ALGS, ids=lambda a: a.name)
def test_generate_and_pem_round_trips(alg: Alg) -> None:
    key = generate_private_key(alg)
    assert alg_of_private_key(key) is alg
    loaded = load_private_key_pem(private_key_pem(key))
    assert spki_der(loaded.public_key()) == spki_der(key.public_key())
    public: PublicKey = key.public_key()
    assert spki_der(load_public_key_pem(public_key_pem(public))) == spki_der(public)
    assert spki_der(load_public_key_der(spki_der(public))) == spki_der(public)
    assert spki_der(load_public_key_pem(private_key_pem(key))) == spki_der(public)  # a private key's half
    certificate = _certificate(key).public_bytes(serialization.Encoding.PEM)
    assert spki_der(load_public_key_pem(certificate)) == spki_der(public)


def test_generate_refuses_ps256() -> None:
    with pytest.raises(KeyFormatError):
        generate_private_key(Alg.PS256)


def _pem_private(key: object, password: bytes | None = None) -> bytes:
    assert isinstance(key, ec.EllipticCurvePrivateKey | x25519.X25519PrivateKey | rsa.RSAPrivateKey)
    encryption = serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


@pytest.mark.parametrize(
    "pem",
    [
        pytest.param(lambda: b"", id="empty"),
        pytest.param(lambda: b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", id="garbage"),
        pytest.param(lambda: _pem_private(ec.generate_private_key(ec.SECP384R1())), id="p384"),
        pytest.param(lambda: _pem_private(x25519.X25519PrivateKey.generate()), id="x25519"),
        pytest.param(lambda: _pem_private(rsa_key(2048)), id="rsa"),
        pytest.param(lambda: _pem_private(signing_key(Alg.ES256), b"secret"), id="encrypted"),
    ],
)
def test_load_private_key_refuses(pem: object) -> None:
    assert callable(pem)
    with pytest.raises(KeyFormatError):
        load_private_key_pem(pem())


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", id="garbage"),
        pytest.param(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", id="garbage-certificate"),
        pytest.param(
            x25519.X25519PrivateKey.generate()
            .public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo),
            id="x25519",
        ),
    ],
)
def test_load_public_key_pem_refuses(data: bytes) -> None:
    with pytest.raises(KeyFormatError):
        load_public_key_pem(data)


@pytest.mark.parametrize("data", [b"", b"\x30\x03\x02\x01\x00", b"not der"], ids=["empty", "wrong-asn1", "text"])
def test_load_public_key_der_refuses(data: bytes) -> None:
    with pytest.raises(KeyFormatError):
        load_public_key_der(data)
