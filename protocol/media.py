"""Images in chunks (sync spec, "Images travel in chunks that resume where they stopped").

A snapshot or incident record (signed, in a batch) carries each image's SHA-256, size and content type. The image
bytes follow on the same ``up/snapshots`` topic as *chunk* messages, unsigned: the broker lets only the device
publish under its subtree, and the hub accepts bytes only for an image a stored signed record announced, only up to
the announced size, and keeps the image only when the SHA-256 of the whole equals the signed one.

Chunk (device -> hub, ``gridpass/v1/dev/{dev}/up/snapshots``), deterministic CBOR::

    {"v": 1, "t": "chunk", "img": h'32 bytes sha256', "size": total_bytes, "off": offset, "data": h'...'}

A batch is a COSE_Sign1 (CBOR tag 18, or an untagged 4-array); a chunk is a CBOR map, so the first byte tells them
apart (:func:`is_chunk`). Progress (hub -> device, ``gridpass/v1/dev/{dev}/down/media``)::

    {"v": 1, "img": h'32 bytes', "have": bytes_held_from_0, "status": "partial" | "complete" | "restart" | "unknown"}

``have`` is how many bytes from the start the hub holds durably (committed before it answers); the device resumes
there after any cut, a hub restart included. ``complete``: the whole arrived and its SHA-256 matched, the device may
forget the bytes. ``restart``: the whole arrived but did not match; the hub dropped it, send again from 0.
``unknown``: no stored record announces this image (send its record first).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from protocol.codec import cbor_dumps, cbor_loads
from protocol.reasons import CredentialError
from protocol.records import MAX_IMAGE_BYTES

MEDIA_VERSION = 1
SHA256_BYTES = 32
MAX_CHUNK_BYTES = 256 * 1024
"""The largest chunk data a hub accepts (the device's configured chunk size must not exceed it)."""
MIN_CHUNK_BYTES = 1024
"""Every chunk but the last of an image carries at least this much (bounds the rows a hub keeps per image)."""
DEFAULT_CHUNK_BYTES = 64 * 1024
"""The chunk size terminals use unless configured otherwise (see protocol/README.md for the measurements)."""
CHUNK_OVERHEAD_BYTES = 128
"""CBOR around the data of a chunk, at most."""
MAX_CHUNK_MESSAGE = MAX_CHUNK_BYTES + CHUNK_OVERHEAD_BYTES
MAX_PROGRESS_MESSAGE = 256
_CBOR_MAP_FIRST = range(0xA0, 0xC0)


class MediaError(ValueError):
    """A chunk or progress message that does not fit its schema."""


class ImageStatus(StrEnum):
    """What the hub says about an image."""

    PARTIAL = "partial"
    COMPLETE = "complete"
    RESTART = "restart"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Chunk:
    """``data`` is bytes ``offset .. offset+len(data)`` of the image whose SHA-256 is ``sha256`` (hex)."""

    sha256: str
    size: int
    offset: int
    data: bytes

    @property
    def end(self) -> int:
        """The offset just past this chunk."""
        return self.offset + len(self.data)


@dataclass(frozen=True, slots=True)
class Progress:
    """The hub holds bytes ``0 .. have`` of the image durably; ``status`` says what the device does next."""

    sha256: str
    have: int
    status: ImageStatus


def _sha_bytes(sha256: str) -> bytes:
    if len(sha256) != 2 * SHA256_BYTES or sha256 != sha256.lower():
        raise MediaError("sha256 is not 64 lower-case hex digits")
    try:
        return bytes.fromhex(sha256)
    except ValueError as exc:
        raise MediaError("sha256 is not 64 lower-case hex digits") from exc


def _uint(value: object, what: str, limit: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= limit:
        raise MediaError(f"{what} is not an integer in 0..{limit}")
    return value


def _body(data: bytes, limit: int, keys: set[str]) -> dict[str, Any]:
    if len(data) > limit:
        raise MediaError(f"message of {len(data)} bytes is larger than {limit}")
    try:
        body = cbor_loads(data, max_depth=2)
    except CredentialError as exc:
        raise MediaError("not CBOR") from exc
    if not isinstance(body, dict) or set(body) != keys:
        raise MediaError(f"not a map of exactly {sorted(keys)}")
    if body["v"] != MEDIA_VERSION or isinstance(body["v"], bool):
        raise MediaError("not a version 1 media message")
    img = body["img"]
    if not isinstance(img, bytes) or len(img) != SHA256_BYTES:
        raise MediaError("img is not a 32-byte SHA-256")
    return body


def check_chunk(chunk: Chunk) -> Chunk:
    """Bounds every chunk must meet (both sides call it): sizes, offsets, and no chunk past the image's end."""
    _sha_bytes(chunk.sha256)
    if not 0 < chunk.size <= MAX_IMAGE_BYTES:
        raise MediaError(f"image size {chunk.size} is not 1..{MAX_IMAGE_BYTES}")
    if not 0 < len(chunk.data) <= MAX_CHUNK_BYTES:
        raise MediaError(f"chunk of {len(chunk.data)} bytes is not 1..{MAX_CHUNK_BYTES}")
    if not 0 <= chunk.offset < chunk.size or chunk.end > chunk.size:
        raise MediaError(f"bytes {chunk.offset}..{chunk.end} are not inside an image of {chunk.size}")
    if len(chunk.data) < MIN_CHUNK_BYTES and chunk.end != chunk.size:
        raise MediaError(f"only the last chunk may carry fewer than {MIN_CHUNK_BYTES} bytes")
    return chunk


def encode_chunk(chunk: Chunk) -> bytes:
    """Encode a chunk."""
    check_chunk(chunk)
    body = {
        "v": MEDIA_VERSION,
        "t": "chunk",
        "img": _sha_bytes(chunk.sha256),
        "size": chunk.size,
        "off": chunk.offset,
        "data": chunk.data,
    }
    return cbor_dumps(body)


def is_chunk(payload: bytes) -> bool:
    """Whether a message on ``up/snapshots`` is a chunk (a CBOR map) rather than a batch (a COSE_Sign1)."""
    return bool(payload) and payload[0] in _CBOR_MAP_FIRST


def parse_chunk(data: bytes) -> Chunk:
    """Parse and bound-check a chunk."""
    body = _body(data, MAX_CHUNK_MESSAGE, {"v", "t", "img", "size", "off", "data"})
    if body["t"] != "chunk" or not isinstance(body["data"], bytes):
        raise MediaError("not a chunk")
    chunk = Chunk(
        body["img"].hex(),
        _uint(body["size"], "size", MAX_IMAGE_BYTES),
        _uint(body["off"], "off", MAX_IMAGE_BYTES),
        body["data"],
    )
    return check_chunk(chunk)


def encode_progress(progress: Progress) -> bytes:
    """Encode the hub's progress answer."""
    body = {
        "v": MEDIA_VERSION,
        "img": _sha_bytes(progress.sha256),
        "have": _uint(progress.have, "have", MAX_IMAGE_BYTES),
        "status": ImageStatus(progress.status).value,
    }
    return cbor_dumps(body)


def parse_progress(data: bytes) -> Progress:
    """Parse the hub's progress answer."""
    body = _body(data, MAX_PROGRESS_MESSAGE, {"v", "img", "have", "status"})
    try:
        status = ImageStatus(body["status"]) if isinstance(body["status"], str) else None
    except ValueError:
        status = None
    if status is None:
        raise MediaError("unknown status")
    return Progress(body["img"].hex(), _uint(body["have"], "have", MAX_IMAGE_BYTES), status)
