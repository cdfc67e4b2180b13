"""Builders shared by the protocol tests: keys, passes, signed lists, and credentials made by hand.

Well-formed credentials and documents are built with the real code (``encode_pass``, ``encode_sign1``,
``build_trust_list``...). Malformed ones are built here by hand with cbor2, zlib and base45, so that a bug in the
code under test cannot hide itself by producing the bytes it then reads back.
"""

from __future__ import annotations

import functools
import zlib
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

import base45
import cbor2
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from protocol import gp1
from protocol.keys import Alg, PrivateKey, kid_of_public_key, sign
from protocol.revocation import HeldLists, build_revocation_update, parse_revocation_update
from protocol.trustlist import TrustedIssuer, TrustList, build_trust_list, parse_trust_list

NOW = 1_750_000_000
"""The scan time of every test: 2025-06-15, a fixed instant (tests never read the clock)."""
HOUR_S = 3600
DAY_S = 86_400
ISS = "CN-ZJ-HZ"
OTHER_ISS = "CN-SH-PD"
LIST_ID = "CN-ZJ-HZ-R"
CTI = bytes.fromhex("00112233445566778899aabbccddeeff")
HID = bytes.fromhex("f0e1d2c3b4a5968778695a4b3c2d1e0f")
NAME = "张*三"
GP1_ALGS = (Alg.ES256, Alg.EDDSA)


@functools.cache
def signing_key(alg: Alg, index: int = 0) -> PrivateKey:
    """One key per (alg, index) for the whole run, so key generation stays out of the tests' time."""
    if alg is Alg.EDDSA:
        return ed25519.Ed25519PrivateKey.generate()
    return ec.generate_private_key(ec.SECP256R1())


def root_key() -> PrivateKey:
    """The district root key that signs trust lists and revocation updates."""
    return signing_key(Alg.EDDSA, 99)


def health_pass(**changes: Any) -> gp1.HealthPass:  # noqa: ANN401 - passed through to dataclasses.replace
    """A green pass of ISS, current at NOW, with optional fields changed."""
    base = gp1.HealthPass(
        iss=ISS,
        iat=NOW - HOUR_S,
        exp=NOW + HOUR_S,
        cti=CTI,
        status=gp1.PassStatus.GREEN,
        hid=HID,
        nm=NAME,
        since=NOW - DAY_S,
    )
    return replace(base, **changes)


def issuer_entry(
    key: PrivateKey, iss: str = ISS, *, nbf: int = NOW - 365 * DAY_S, exp: int = NOW + 365 * DAY_S
) -> TrustedIssuer:
    """A trust-list entry for ``key``."""
    return TrustedIssuer.for_key(key.public_key(), iss, nbf=nbf, exp=exp)


def trust_list(*entries: TrustedIssuer, seq: int = 1) -> TrustList:
    """A trust list as a reader holds it: built, signed by the root, verified and parsed by the real code."""
    document = build_trust_list(root_key(), seq=seq, ts=NOW, issuers=entries)
    return parse_trust_list(document, root_key().public_key())


def revoked(*rids: bytes) -> HeldLists:
    """Held revocation lists with ``rids`` revoked, through a signed snapshot as a device receives it."""
    document = build_revocation_update(root_key(), list_id=LIST_ID, seq=1, base=0, ts=NOW, add=rids)
    return HeldLists().apply(parse_revocation_update(document, root_key().public_key()))


def b45(data: bytes) -> str:
    """Base45 text of ``data``, straight from the library (typed: the library is not)."""
    return str(base45.b45encode(data).decode("ascii"))


def unb45(text: str) -> bytes:
    """``data`` of a Base45 text, straight from the library."""
    return bytes(base45.b45decode(text))


def qr_text(cose: bytes, prefix: str = "GP1:") -> str:
    """``prefix`` + Base45(zlib(cose)), by hand."""
    return prefix + b45(zlib.compress(cose))


def hand_sig_structure(protected_bytes: bytes, payload: bytes) -> bytes:
    """RFC 9052 Sig_structure for COSE_Sign1 with empty external AAD, by hand."""
    return cbor2.dumps(["Signature1", protected_bytes, b"", payload])


def hand_sign1(
    payload: bytes,
    key: PrivateKey,
    *,
    protected: Any = None,  # noqa: ANN401 - any CBOR value, malformed on purpose
    protected_bytes: bytes | None = None,
    unprotected: Any = None,  # noqa: ANN401
    signature: bytes | None = None,
    tagged: bool = True,
) -> bytes:
    """A COSE_Sign1 built by hand; by default a correct one (alg and kid of ``key`` in the protected header)."""
    if protected_bytes is None:
        if protected is None:
            alg = Alg.EDDSA if isinstance(key, ed25519.Ed25519PrivateKey) else Alg.ES256
            protected = {1: int(alg), 4: kid_of_public_key(key.public_key())}
        protected_bytes = cbor2.dumps(protected)
    if signature is None:
        signature = sign(key, hand_sig_structure(protected_bytes, payload))
    message = [protected_bytes, {} if unprotected is None else unprotected, payload, signature]
    return cbor2.dumps(cbor2.CBORTag(18, message) if tagged else message)


def pass_claims(**changes: Any) -> dict[Any, Any]:  # noqa: ANN401
    """The raw CWT claims of :func:`health_pass`, by hand (``changes`` keyed by claim: iss, exp, iat, cti)."""
    keys = {"iss": 1, "exp": 4, "iat": 6, "cti": 7}
    claims: dict[Any, Any] = {1: ISS, 4: NOW + HOUR_S, 6: NOW - HOUR_S, 7: CTI, -65537: pass_body()}
    for name, value in changes.items():
        claims[keys[name]] = value
    return claims


def pass_body(**changes: Any) -> dict[Any, Any]:  # noqa: ANN401
    """The raw health pass body (claim -65537) of :func:`health_pass`."""
    body: dict[Any, Any] = {"v": 1, "st": "green", "hid": HID, "nm": NAME, "since": NOW - DAY_S}
    body.update(changes)
    return body


def without(mapping: dict[Any, Any], *keys: Any) -> dict[Any, Any]:  # noqa: ANN401
    """A copy of ``mapping`` without ``keys``."""
    return {k: v for k, v in mapping.items() if k not in keys}


def signed_claims(claims: object, key: PrivateKey, *, tagged: bool = True) -> str:
    """A GP1 text whose payload is ``claims`` (any CBOR value), correctly signed by ``key``, by hand."""
    return qr_text(hand_sign1(cbor2.dumps(claims), key, tagged=tagged))


def nested(depth: int) -> object:
    """``depth`` arrays one inside the other around a 0."""
    value: object = 0
    for _ in range(depth):
        value = [value]
    return value


def raw_deflate(data: bytes) -> bytes:
    """DEFLATE without the zlib header and checksum (RFC 1951 instead of 1950)."""
    compressor = zlib.compressobj(wbits=-15)
    return compressor.compress(data) + compressor.flush()


def flip_last_bit(data: bytes) -> bytes:
    """``data`` with the lowest bit of its last byte flipped."""
    return data[:-1] + bytes([data[-1] ^ 1])


def concat_sorted(rids: Iterable[bytes]) -> bytes:
    """Rids as an update document carries them: sorted and concatenated."""
    return b"".join(sorted(set(rids)))


@functools.cache
def default_trust(alg: Alg) -> TrustList:
    """A trust list holding the issuer entry of ``signing_key(alg)``."""
    return trust_list(issuer_entry(signing_key(alg)))


@functools.cache
def bomb_text() -> str:
    """The largest run of zeros whose zlib still fits a GP1 text of 4 KiB: about 2.7 MB inflated."""
    low, high = 64 * 1024, 8 * 1024 * 1024
    while high - low > 1024:
        middle = (low + high) // 2
        fits = len(b45(zlib.compress(bytes(middle), 9))) <= 4096 - 4
        low, high = (middle, high) if fits else (low, middle)
    return "GP1:" + b45(zlib.compress(bytes(low), 9))
