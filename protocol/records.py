"""The record fields of each stream, as carried in the signed batch envelope (``protocol/envelope.py``).

One strict schema per stream, checked on both sides: a terminal never sends a field the hub would refuse, and the
hub refuses (with ``bad_schema``) what does not fit. No field may carry a pass text, a name or a holder id.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import fields as dataclass_fields
from typing import Any

from protocol.reasons import Decision, Reason

MAX_TEXT = 64
_DECISIONS = frozenset(d.value for d in Decision)
_REASONS = frozenset(r.value for r in Reason)
_HEX = re.compile(r"[0-9a-f]+")
MAX_ISS = 256  # HC1 issuers are not always a country code (one issuer's iss is a long URL-like text)
TIME_SOURCES = frozenset({"hub", "ntp", "untrusted"})
KINDS = frozenset({"GP1", "HC1"})


class RecordError(ValueError):
    """A record whose fields do not fit its stream's schema."""


@dataclass(frozen=True, slots=True)
class ScanRecord:
    """One scan decision (stream ``events``)."""

    boot: str
    """Boot id (32 hex digits) of the run that decided."""
    at: float
    """Unix seconds on the terminal's clock (corrected by the hub's offset when it had one)."""
    time_source: str
    """``hub``, ``ntp`` or ``untrusted``."""
    decision: str
    reason: str
    kind: str | None = None
    iss: str | None = None
    status: str | None = None
    rid: str | None = None
    """The credential's revocation id, 32 hex digits (a hash, never the id itself)."""
    latency_ms: float | None = None

    def fields(self) -> dict[str, Any]:
        """The record's fields for the envelope (absent and empty values left out)."""
        return {key: value for key in _FIELDS if (value := getattr(self, key)) not in (None, "")}


_FIELDS = tuple(f.name for f in dataclass_fields(ScanRecord))


def _text(
    fields: Mapping[str, Any],
    key: str,
    *,
    optional: bool = False,
    allowed: frozenset[str] | None = None,
    limit: int = MAX_TEXT,
) -> Any:  # noqa: ANN401
    value = fields.get(key)
    if value in (None, "") and optional:
        return None
    if not isinstance(value, str) or not 0 < len(value) <= limit or (allowed is not None and value not in allowed):
        raise RecordError(f"field {key!r} is missing or not an allowed text")
    return value


def _number(fields: Mapping[str, Any], key: str, *, optional: bool = False) -> float | None:
    value = fields.get(key)
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise RecordError(f"field {key!r} is missing or not a number")
    return float(value)


def _hex(fields: Mapping[str, Any], key: str, length: int, *, optional: bool = False) -> str | None:
    value = fields.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, str) or len(value) != length or not _HEX.fullmatch(value):
        raise RecordError(f"field {key!r} is not {length} lower-case hex digits")
    return value


def parse_scan_record(fields: Mapping[str, Any]) -> ScanRecord:
    """Validate the fields of an ``events`` record."""
    known = {"boot", "at", "time_source", "decision", "reason", "kind", "iss", "status", "rid", "latency_ms"}
    unknown = set(fields) - known
    if unknown:
        raise RecordError(f"unknown fields {sorted(unknown)}")
    at = _number(fields, "at")
    assert at is not None  # noqa: S101 - required field, checked above
    decision = _text(fields, "decision", allowed=_DECISIONS)
    reason = _text(fields, "reason", allowed=_REASONS)
    if Reason(reason).decision.value != decision:
        raise RecordError(f"reason {reason} does not belong to decision {decision}")
    return ScanRecord(
        boot=str(_hex(fields, "boot", 32)),
        at=at,
        time_source=_text(fields, "time_source", allowed=TIME_SOURCES),
        decision=decision,
        reason=reason,
        kind=_text(fields, "kind", optional=True, allowed=KINDS),
        iss=_text(fields, "iss", optional=True, limit=MAX_ISS),
        status=_text(fields, "status", optional=True),
        rid=_hex(fields, "rid", 32, optional=True),
        latency_ms=_number(fields, "latency_ms", optional=True),
    )
