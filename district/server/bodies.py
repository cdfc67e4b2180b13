"""Parsers of what hubs send the district center, each bounded before it is parsed: pure functions of bytes."""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import ed25519

from protocol.keys import KeyFormatError, load_public_key_der

MAX_JSON_BYTES = 4096
"""A registration body is a key and a profile: a few hundred bytes."""
MAX_PUBLIC_KEY_BYTES = 512
PROFILES = frozenset({"scanner", "camera", "handheld"})
IDEMPOTENCY_KEY = re.compile(r"[A-Za-z0-9_.:-]{1,96}")


class BodyError(ValueError):
    """A body the district refuses; ``reason`` is the counter it is refused under."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Registration:
    """A device's key as its hub registers it."""

    public_key: bytes
    """Ed25519 SubjectPublicKeyInfo DER."""
    profile: str


def parse_registration(data: bytes) -> Registration:
    """``{"public_key": base64 SPKI DER of an Ed25519 key, "profile": "scanner" | "camera" | "handheld"}``."""
    if len(data) > MAX_JSON_BYTES:
        raise BodyError("too_large", f"a registration is at most {MAX_JSON_BYTES} bytes")
    try:
        body = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise BodyError("bad_json", "the body is not JSON") from exc
    if not isinstance(body, dict) or set(body) != {"public_key", "profile"}:
        raise BodyError("bad_schema", "the body is an object with exactly public_key and profile")
    encoded, profile = body["public_key"], body["profile"]
    if not isinstance(profile, str) or profile not in PROFILES:
        raise BodyError("bad_schema", f"profile is one of {sorted(PROFILES)}")
    if not isinstance(encoded, str) or len(encoded) > 2 * MAX_PUBLIC_KEY_BYTES:
        raise BodyError("bad_schema", "public_key is base64 text")
    try:
        der = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BodyError("bad_schema", "public_key is not base64") from exc
    try:
        key = load_public_key_der(der)
    except KeyFormatError as exc:
        raise BodyError("bad_key", "public_key is not a DER SubjectPublicKeyInfo") from exc
    if not isinstance(key, ed25519.Ed25519PublicKey):
        raise BodyError("bad_key", "device keys are Ed25519")
    return Registration(der, profile)


def registration_body(public_key: bytes, profile: str) -> bytes:
    """The body of a registration (what the hub sends)."""
    return json.dumps({"public_key": base64.b64encode(public_key).decode("ascii"), "profile": profile}).encode()


def check_idempotency_key(value: str | None) -> str:
    """The ``Idempotency-Key`` header: 1-96 of A-Z, a-z, 0-9, '_', '.', ':' and '-'."""
    if value is None or not IDEMPOTENCY_KEY.fullmatch(value):
        raise BodyError("bad_idempotency_key", "send an Idempotency-Key header of 1-96 of [A-Za-z0-9_.:-]")
    return value
