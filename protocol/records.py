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


# --- incidents and snapshots ----------------------------------------------------------------------------------------

MAX_CATEGORY = 64
MAX_NOTE = 1000
MAX_PHOTOS = 8
MAX_GRID_CELL = 64
MAX_IMAGE_BYTES = 8 * 1024 * 1024
"""The largest image (snapshot or incident photo) a record may announce; the hub refuses chunks beyond it."""
MAX_IMAGE_SIDE = 16384
SHA256_HEX = 64
CONTENT_TYPES = frozenset({"image/jpeg", "image/png", "image/webp"})
TRIGGERS = frozenset({"periodic", "motion", "command", "decision"})
MAX_ACCURACY_M = 100_000.0


@dataclass(frozen=True, slots=True)
class ImageRef:
    """An image a record points at: the hub checks the whole image against ``sha256`` (the record is signed)."""

    sha256: str
    """64 lower-case hex digits: SHA-256 of the image bytes."""
    size: int
    """Bytes, 1 .. ``MAX_IMAGE_BYTES``."""
    content_type: str
    width: int | None = None
    height: int | None = None

    def fields(self) -> dict[str, Any]:
        """The reference's CBOR map (width and height only when known)."""
        out: dict[str, Any] = {"sha256": self.sha256, "size": self.size, "content_type": self.content_type}
        if self.width is not None:
            out["width"] = self.width
        if self.height is not None:
            out["height"] = self.height
        return out


@dataclass(frozen=True, slots=True)
class IncidentRecord:
    """An incident a grid worker filed (stream ``incidents``): no name, no id number, no pass text."""

    boot: str
    at: float
    time_source: str
    category: str
    note: str
    """Free text, at most ``MAX_NOTE`` characters (may be empty)."""
    lat: float | None = None
    lon: float | None = None
    accuracy_m: float | None = None
    grid_cell: str | None = None
    photos: tuple[ImageRef, ...] = ()

    def fields(self) -> dict[str, Any]:
        """The record's fields for the envelope (absent values left out)."""
        out: dict[str, Any] = {
            "boot": self.boot,
            "at": self.at,
            "time_source": self.time_source,
            "category": self.category,
            "note": self.note,
        }
        if self.lat is not None and self.lon is not None:
            out["position"] = {"lat": self.lat, "lon": self.lon}
            if self.accuracy_m is not None:
                out["position"]["accuracy_m"] = self.accuracy_m
        if self.grid_cell:
            out["grid_cell"] = self.grid_cell
        if self.photos:
            out["photos"] = [photo.fields() for photo in self.photos]
        return out


@dataclass(frozen=True, slots=True)
class SnapshotRecord:
    """A camera snapshot (stream ``snapshots``): its metadata and a reference to its image."""

    boot: str
    at: float
    time_source: str
    camera: str
    trigger: str
    """``periodic``, ``motion``, ``command`` or ``decision``."""
    image: ImageRef

    def fields(self) -> dict[str, Any]:
        """The record's fields for the envelope."""
        return {
            "boot": self.boot,
            "at": self.at,
            "time_source": self.time_source,
            "camera": self.camera,
            "trigger": self.trigger,
            "image": self.image.fields(),
        }


def _int(fields: Mapping[str, Any], key: str, low: int, high: int, *, optional: bool = False) -> int | None:
    value = fields.get(key)
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise RecordError(f"field {key!r} is not an integer in {low}..{high}")
    return value


def _known(fields: Mapping[str, Any], known: set[str], what: str) -> None:
    if not isinstance(fields, Mapping) or not all(isinstance(key, str) for key in fields):
        raise RecordError(f"{what} is not a map with text keys")
    unknown = set(fields) - known
    if unknown:
        raise RecordError(f"unknown fields in {what}: {sorted(unknown)[:8]}")


def parse_image_ref(fields: object, *, dimensions: bool) -> ImageRef:
    """Validate an image reference (``dimensions``: width and height are required, as for snapshots)."""
    if not isinstance(fields, Mapping):
        raise RecordError("an image reference is not a map")
    _known(fields, {"sha256", "size", "content_type", "width", "height"}, "an image reference")
    return ImageRef(
        sha256=str(_hex(fields, "sha256", SHA256_HEX)),
        size=int(_int(fields, "size", 1, MAX_IMAGE_BYTES) or 0),
        content_type=_text(fields, "content_type", allowed=CONTENT_TYPES),
        width=_int(fields, "width", 1, MAX_IMAGE_SIDE, optional=not dimensions),
        height=_int(fields, "height", 1, MAX_IMAGE_SIDE, optional=not dimensions),
    )


def _common(fields: Mapping[str, Any]) -> tuple[str, float, str]:
    at = _number(fields, "at")
    assert at is not None  # noqa: S101 - required field, checked above
    return str(_hex(fields, "boot", 32)), at, _text(fields, "time_source", allowed=TIME_SOURCES)


def parse_incident_record(fields: Mapping[str, Any]) -> IncidentRecord:
    """Validate the fields of an ``incidents`` record."""
    _known(fields, {"boot", "at", "time_source", "category", "note", "position", "grid_cell", "photos"}, "a record")
    boot, at, time_source = _common(fields)
    note = fields.get("note")
    if not isinstance(note, str) or len(note) > MAX_NOTE:
        raise RecordError(f"field 'note' is not a text of at most {MAX_NOTE} characters")
    lat = lon = accuracy = None
    position = fields.get("position")
    if position is not None:
        if not isinstance(position, Mapping):
            raise RecordError("position is not a map")
        _known(position, {"lat", "lon", "accuracy_m"}, "position")
        lat, lon = _number(position, "lat"), _number(position, "lon")
        accuracy = _number(position, "accuracy_m", optional=True)
        if lat is None or lon is None or not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise RecordError("position is outside -90..90 / -180..180")
        if accuracy is not None and not 0 <= accuracy <= MAX_ACCURACY_M:
            raise RecordError(f"accuracy_m is not in 0..{MAX_ACCURACY_M}")
    photos_raw = fields.get("photos", [])
    if not isinstance(photos_raw, list) or len(photos_raw) > MAX_PHOTOS:
        raise RecordError(f"photos is not a list of at most {MAX_PHOTOS}")
    photos = tuple(parse_image_ref(photo, dimensions=False) for photo in photos_raw)
    if len({photo.sha256 for photo in photos}) != len(photos):
        raise RecordError("a photo is listed twice")
    return IncidentRecord(
        boot=boot,
        at=at,
        time_source=time_source,
        category=_text(fields, "category", limit=MAX_CATEGORY),
        note=note,
        lat=lat,
        lon=lon,
        accuracy_m=accuracy,
        grid_cell=_text(fields, "grid_cell", optional=True, limit=MAX_GRID_CELL),
        photos=photos,
    )


def parse_snapshot_record(fields: Mapping[str, Any]) -> SnapshotRecord:
    """Validate the fields of a ``snapshots`` record."""
    _known(fields, {"boot", "at", "time_source", "camera", "trigger", "image"}, "a record")
    boot, at, time_source = _common(fields)
    return SnapshotRecord(
        boot=boot,
        at=at,
        time_source=time_source,
        camera=_text(fields, "camera"),
        trigger=_text(fields, "trigger", allowed=TRIGGERS),
        image=parse_image_ref(fields.get("image"), dimensions=True),
    )
