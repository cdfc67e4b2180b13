"""GP1, the district health pass: ``GP1:`` + Base45(zlib(COSE_Sign1(CWT))) (credentials spec, section 1)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from protocol.codec import b45encode, cbor_dumps, deflate
from protocol.cose import encode_sign1
from protocol.cwt import (
    CLAIM_CTI,
    CLAIM_EXP,
    CLAIM_GP1_PASS,
    CLAIM_IAT,
    CLAIM_ISS,
    bytes_claim,
    claims_map,
    text_claim,
    time_claim,
)
from protocol.keys import PrivateKey
from protocol.reasons import CredentialError, Reason

PREFIX = "GP1:"
BODY_VERSION = 1
ID_BYTES = 16
MAX_NAME_CHARS = 64
MAX_ISS_CHARS = 64


class PassStatus(StrEnum):
    """The holder's health status as the pass states it."""

    GREEN = "green"
    YELLOW = "yellow"
    RED = "red"


_STATUSES = frozenset(status.value for status in PassStatus)


@dataclass(frozen=True, slots=True)
class HealthPass:
    """The claims of a GP1 pass. ``hid`` and ``nm`` are personal: they never leave the decision."""

    iss: str
    iat: int
    exp: int
    cti: bytes
    status: PassStatus
    hid: bytes
    nm: str | None = None
    since: int | None = None


def parse_claims(payload: object) -> HealthPass:
    """Strictly typed claims: anything missing, mistyped or unknown is ``bad_cbor``."""
    claims = claims_map(payload)
    iss = text_claim(claims, CLAIM_ISS, max_chars=MAX_ISS_CHARS)
    iat = int(time_claim(claims, CLAIM_IAT))
    exp = int(time_claim(claims, CLAIM_EXP))
    cti = bytes_claim(claims, CLAIM_CTI, length=ID_BYTES)
    body = claims.get(CLAIM_GP1_PASS)
    if not isinstance(body, dict) or not all(isinstance(k, str) for k in body):
        raise CredentialError(Reason.BAD_CBOR, "pass body is missing or not a map with text keys")
    version = body.get("v")
    if type(version) is not int or version != BODY_VERSION:
        raise CredentialError(Reason.BAD_CBOR, "unknown pass body version")
    st = body.get("st")
    if not isinstance(st, str) or st not in _STATUSES:
        raise CredentialError(Reason.BAD_CBOR, "unknown status")
    hid = bytes_claim(body, "hid", length=ID_BYTES)
    # Optional fields are absent or of their type: a null is a wrong type, not an absence.
    nm = body.get("nm")
    if "nm" in body and (not isinstance(nm, str) or len(nm) > MAX_NAME_CHARS):
        raise CredentialError(Reason.BAD_CBOR, "nm is not a short text")
    since = int(time_claim(body, "since")) if "since" in body else None
    return HealthPass(iss, iat, exp, cti, PassStatus(st), hid, nm, since)


def claims_of(health_pass: HealthPass) -> dict[int, Any]:
    """The CWT claims map of a pass."""
    body: dict[str, Any] = {"v": BODY_VERSION, "st": health_pass.status.value, "hid": health_pass.hid}
    if health_pass.nm is not None:
        body["nm"] = health_pass.nm
    if health_pass.since is not None:
        body["since"] = health_pass.since
    return {
        CLAIM_ISS: health_pass.iss,
        CLAIM_EXP: health_pass.exp,
        CLAIM_IAT: health_pass.iat,
        CLAIM_CTI: health_pass.cti,
        CLAIM_GP1_PASS: body,
    }


def encode_pass(health_pass: HealthPass, issuer_key: PrivateKey, *, tagged: bool = True) -> str:
    """Sign and encode a pass into its QR text."""
    return encode_credential(PREFIX, cbor_dumps(claims_of(health_pass)), issuer_key, tagged=tagged)


def encode_credential(prefix: str, payload: bytes, key: PrivateKey, *, tagged: bool = True) -> str:
    """``prefix`` + Base45(zlib(COSE_Sign1(payload))), with the key's SPKI kid."""
    return prefix + b45encode(deflate(encode_sign1(payload, key, tagged=tagged)))
