"""The trust list: which issuer keys (GP1) and signing certificates (HC1) a checkpoint accepts.

One document signed by the district root key (credentials spec, "Trust list"). A holder applies a list only if
the signature verifies under the root key and its ``seq`` is higher than the one held.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TypeVar

from protocol.documents import DocumentError, DocumentProblem, open_signed, seal, uint
from protocol.documents import field as doc_field
from protocol.dsc import CertificateError, SigningCertificate, load_signing_certificate
from protocol.keys import (
    KID_BYTES,
    Alg,
    KeyFormatError,
    PrivateKey,
    PublicKey,
    alg_of_public_key,
    kid_of_public_key,
    load_public_key_der,
    spki_der,
)

TRUST_LIST_VERSION = 1
MAX_TRUST_LIST_BYTES = 16 * 1024 * 1024
MAX_ISSUERS = 10_000
MAX_DSCS = 20_000
MAX_ISS_CHARS = 64


@dataclass(frozen=True, slots=True)
class TrustedIssuer:
    """A GP1 issuer key: trusted for passes of ``iss`` while ``nbf <= now < exp``."""

    kid: bytes
    iss: str
    alg: int
    """COSE alg the key signs with; an alg gridpass does not know makes every pass of the key unsupported_alg."""
    spki: bytes
    nbf: int
    exp: int
    public_key: PublicKey | None = field(compare=False, repr=False)
    """None when the SPKI could not be loaded: the entry is kept (the list stays usable) but verifies nothing."""

    @classmethod
    def for_key(cls, public_key: PublicKey, iss: str, *, nbf: int, exp: int) -> TrustedIssuer:
        """An entry for ``public_key`` (kid and alg derived from the key)."""
        alg = alg_of_public_key(public_key)
        if alg not in (Alg.ES256, Alg.EDDSA):
            raise KeyFormatError("GP1 issuer keys are P-256 (ES256) or Ed25519 (EdDSA)")
        return cls(kid_of_public_key(public_key), iss, int(alg), spki_der(public_key), nbf, exp, public_key)

    def valid_at(self, now: float) -> bool:
        """Whether ``now`` lies in the entry's ``nbf <= now < exp``."""
        return self.nbf <= now < self.exp


@dataclass(frozen=True, slots=True)
class TrustList:
    """An applied trust list, indexed by kid for one lookup per scan."""

    seq: int
    ts: int
    issuers: Mapping[bytes, tuple[TrustedIssuer, ...]]
    dscs: Mapping[bytes, tuple[SigningCertificate, ...]]

    @classmethod
    def empty(cls) -> TrustList:
        """What a reader holds before any valid list: it trusts no key."""
        return cls(0, 0, MappingProxyType({}), MappingProxyType({}))

    def issuers_for(self, kid: bytes) -> tuple[TrustedIssuer, ...]:
        """The GP1 issuer entries with this kid (normally one)."""
        return self.issuers.get(kid, ())

    def dscs_for(self, kid: bytes) -> tuple[SigningCertificate, ...]:
        """Every HC1 signing certificate carrying this kid (kids can collide: all are tried)."""
        return self.dscs.get(kid, ())


def build_trust_list(
    root_key: PrivateKey,
    *,
    seq: int,
    ts: int,
    issuers: Sequence[TrustedIssuer],
    dscs: Sequence[bytes] = (),
) -> bytes:
    """Sign a trust list document with the district root key."""
    body = {
        "v": TRUST_LIST_VERSION,
        "seq": seq,
        "ts": ts,
        "issuers": [
            {"kid": i.kid, "iss": i.iss, "alg": i.alg, "spki": i.spki, "nbf": i.nbf, "exp": i.exp} for i in issuers
        ],
    }
    if dscs:
        body["dsc"] = list(dscs)
    return seal(root_key, body)


def parse_trust_list(data: bytes, root_public_key: PublicKey) -> TrustList:
    """Verify and load a trust list document; refusals are :class:`DocumentError` with a problem code."""
    body = open_signed(data, root_public_key, max_bytes=MAX_TRUST_LIST_BYTES)
    if doc_field(body, "v", int) != TRUST_LIST_VERSION:
        raise DocumentError(DocumentProblem.BAD_SCHEMA, "unknown trust list version")
    seq = uint(body, "seq")
    ts = uint(body, "ts")
    raw_issuers = doc_field(body, "issuers", list)
    raw_dscs = doc_field(body, "dsc", list, optional=True) or []
    if len(raw_issuers) > MAX_ISSUERS or len(raw_dscs) > MAX_DSCS:
        raise DocumentError(DocumentProblem.TOO_LARGE, "too many entries in the trust list")
    return TrustList(seq, ts, _index(_issuer(entry) for entry in raw_issuers), _index(_dsc(d) for d in raw_dscs))


_Entry = TypeVar("_Entry", "TrustedIssuer", SigningCertificate)


def _index(entries: Iterable[_Entry]) -> Mapping[bytes, tuple[_Entry, ...]]:
    index: dict[bytes, list[_Entry]] = {}
    for entry in entries:
        index.setdefault(entry.kid, []).append(entry)
    return MappingProxyType({kid: tuple(found) for kid, found in index.items()})


def _issuer(entry: object) -> TrustedIssuer:
    if not isinstance(entry, dict):
        raise DocumentError(DocumentProblem.BAD_SCHEMA, "an issuer entry is not a map")
    kid = doc_field(entry, "kid", bytes)
    iss = doc_field(entry, "iss", str)
    alg_value = doc_field(entry, "alg", int)
    spki = doc_field(entry, "spki", bytes)
    nbf, exp = uint(entry, "nbf"), uint(entry, "exp")
    if len(kid) != KID_BYTES or not 0 < len(iss) <= MAX_ISS_CHARS:
        raise DocumentError(DocumentProblem.BAD_SCHEMA, "an issuer entry has a malformed kid or iss")
    # The kid is taken as signed: the root vouches for it, and another tool's SPKI encoding may differ from ours.
    public_key: PublicKey | None
    try:
        public_key = load_public_key_der(spki)
    except KeyFormatError:
        public_key = None
    return TrustedIssuer(kid, iss, alg_value, spki, nbf, exp, public_key)


def _dsc(der: object) -> SigningCertificate:
    if not isinstance(der, bytes):
        raise DocumentError(DocumentProblem.BAD_SCHEMA, "a dsc entry is not a byte string")
    try:
        return load_signing_certificate(der)
    except CertificateError as exc:
        raise DocumentError(DocumentProblem.BAD_SCHEMA, f"a dsc entry is not a certificate ({exc})") from exc


def accept_newer(held: TrustList, candidate: TrustList) -> TrustList:
    """The holder rule: a list replaces the held one only when its ``seq`` is higher."""
    if candidate.seq <= held.seq:
        raise DocumentError(
            DocumentProblem.NOT_NEWER, f"trust list seq {candidate.seq} is not newer than the held {held.seq}"
        )
    return candidate
