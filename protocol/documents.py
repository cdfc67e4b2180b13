"""Signed documents from the district center: trust lists, revocation updates and device configs.

Each is a COSE_Sign1 by the district root key over a CBOR map. This module opens and seals that envelope and names
what can be wrong with one, so that every holder (hub, device, ``gridpass verify``) refuses the same things for
the same reasons and can count them.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from protocol.codec import cbor_dumps, cbor_loads
from protocol.cose import CoseError, decode_sign1, encode_sign1
from protocol.keys import PrivateKey, PublicKey, alg_of_public_key, kid_of_public_key, verify
from protocol.reasons import CredentialError

DOCUMENT_CBOR_DEPTH = 8


class DocumentProblem(StrEnum):
    """Why a signed document was not applied: one counter each on the hub and the terminal."""

    TOO_LARGE = "too_large"
    BAD_COSE = "bad_cose"
    WRONG_KEY = "wrong_key"
    BAD_SIGNATURE = "bad_signature"
    BAD_SCHEMA = "bad_schema"
    WRONG_LIST = "wrong_list"
    WRONG_DEVICE = "wrong_device"
    NOT_NEWER = "not_newer"
    GAP = "gap"


class DocumentError(ValueError):
    """A signed document was refused; ``problem`` says why, ``detail`` says what to do about it."""

    def __init__(self, problem: DocumentProblem, detail: str) -> None:
        super().__init__(f"{problem.value}: {detail}")
        self.problem = problem
        self.detail = detail


def seal(root_key: PrivateKey, body: dict[str, Any]) -> bytes:
    """Sign ``body`` (deterministic CBOR) with the root key as a tagged COSE_Sign1."""
    return encode_sign1(cbor_dumps(body), root_key)


def open_signed(data: bytes, root_public_key: PublicKey, *, max_bytes: int) -> dict[str, Any]:
    """Verify a root-signed document and return its body map; every refusal is a :class:`DocumentError`."""
    if len(data) > max_bytes:
        raise DocumentError(DocumentProblem.TOO_LARGE, f"{len(data)} bytes, the limit is {max_bytes}")
    try:
        message = decode_sign1(data, max_depth=DOCUMENT_CBOR_DEPTH)
        kid = message.kid(reject_mismatch=True)
    except CoseError as exc:
        raise DocumentError(DocumentProblem.BAD_COSE, f"not a COSE_Sign1 document ({exc})") from exc
    root_alg = alg_of_public_key(root_public_key)
    if kid is not None and kid != kid_of_public_key(root_public_key):
        raise DocumentError(
            DocumentProblem.WRONG_KEY,
            "signed by another key than this district's root: check --root / the key",
        )
    if root_alg is None or message.alg != root_alg:
        raise DocumentError(DocumentProblem.WRONG_KEY, "its algorithm is not the root key's")
    if not verify(root_public_key, root_alg, message.to_be_signed(), message.signature):
        raise DocumentError(DocumentProblem.BAD_SIGNATURE, "signature does not verify under the root key")
    try:
        body = cbor_loads(message.payload, max_depth=DOCUMENT_CBOR_DEPTH)
    except CredentialError as exc:
        raise DocumentError(DocumentProblem.BAD_SCHEMA, "payload is not CBOR") from exc
    if not isinstance(body, dict) or not all(isinstance(k, str) for k in body):
        raise DocumentError(DocumentProblem.BAD_SCHEMA, "payload is not a map with text keys")
    return body


def field(body: dict[str, Any], key: str, kind: type | tuple[type, ...], *, optional: bool = False) -> Any:  # noqa: ANN401
    """``body[key]`` checked against ``kind`` (bool is never an int here); a missing or wrong field is bad_schema."""
    if key not in body:
        if optional:
            return None
        raise DocumentError(DocumentProblem.BAD_SCHEMA, f"missing field {key!r}")
    value = body[key]
    if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
        raise DocumentError(DocumentProblem.BAD_SCHEMA, f"field {key!r} has the wrong type")
    if not isinstance(value, kind):
        raise DocumentError(DocumentProblem.BAD_SCHEMA, f"field {key!r} has the wrong type")
    return value


def uint(body: dict[str, Any], key: str, *, bits: int = 63) -> int:
    """A non-negative integer field below 2**bits."""
    value: int = field(body, key, int)
    if not 0 <= value < 2**bits:
        raise DocumentError(DocumentProblem.BAD_SCHEMA, f"field {key!r} is out of range")
    return value
