"""CWT claims (RFC 8392) shared by GP1 and HC1: keys and strict typed readers."""

from __future__ import annotations

import math
from typing import Any

from protocol.reasons import CredentialError, Reason

CLAIM_ISS = 1
CLAIM_EXP = 4
CLAIM_IAT = 6
CLAIM_CTI = 7
CLAIM_GP1_PASS = -65537
CLAIM_HCERT = -260

MAX_TIME = 2**40  # year ~36800: anything later is not a time


def claims_map(value: object) -> dict[Any, Any]:
    """The payload must be a CBOR map keyed by integers or text (RFC 8392).

    A claim under a key of another type is not that claim: ``true`` or ``4.0`` would otherwise hash like ``1`` or
    ``4`` and be read as ``iss`` or ``exp``.
    """
    if not isinstance(value, dict):
        raise CredentialError(Reason.BAD_CBOR, "payload is not a claims map")
    if not all(type(key) is int or type(key) is str for key in value):
        raise CredentialError(Reason.BAD_CBOR, "claim keys must be integers or text")
    return value


def text_claim(claims: dict[Any, Any], key: object, *, max_chars: int = 256) -> str:
    """A required text claim."""
    value = claims.get(key)
    if not isinstance(value, str) or not 0 < len(value) <= max_chars:
        raise CredentialError(Reason.BAD_CBOR, f"claim {key} is missing or not text")
    return value


def time_claim(claims: dict[Any, Any], key: object, *, allow_float: bool = False) -> float:
    """A required time claim in Unix seconds: an int, or for HC1 (RFC 8392 NumericDate) also a finite float."""
    value = claims.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise CredentialError(Reason.BAD_CBOR, f"claim {key} is missing or not a time")
    if isinstance(value, float) and (not allow_float or not math.isfinite(value)):
        raise CredentialError(Reason.BAD_CBOR, f"claim {key} is not a whole number of seconds")
    if not -MAX_TIME < value < MAX_TIME:
        raise CredentialError(Reason.BAD_CBOR, f"claim {key} is out of range")
    return value


def bytes_claim(claims: dict[Any, Any], key: object, *, length: int) -> bytes:
    """A required byte-string claim of an exact length."""
    value = claims.get(key)
    if not isinstance(value, bytes) or len(value) != length:
        raise CredentialError(Reason.BAD_CBOR, f"claim {key} is missing or not {length} bytes")
    return value
