"""The transport stack every credential and document shares: prefix, Base45, zlib and CBOR, each bounded.

``PREFIX:`` + Base45(zlib(COSE_Sign1(CWT))). Each step turns its failure into the spec's reason; the bounds are
enforced before the work they protect, so a hostile input costs microseconds and no memory.
"""

from __future__ import annotations

import io
import zlib
from typing import Any

import base45
import cbor2

from protocol.reasons import CredentialError, Reason

MAX_QR_TEXT_BYTES = 4096
"""QR text longer than this is ``too_large`` before any decoding (credentials spec, "Bounds")."""

MAX_INFLATED_BYTES = 64 * 1024
"""A credential inflates to at most this many bytes; more is a zlib bomb and ``too_large``."""

MAX_CBOR_DEPTH = 16
"""Containers nested deeper than this are ``bad_cbor``: no genuine credential or document comes close."""

KNOWN_PREFIXES = ("GP1:", "HC1:")


def split_prefix(text: str) -> tuple[str, str]:
    """Return (prefix, Base45 body) of a QR text, enforcing the size bound first."""
    if len(text) > MAX_QR_TEXT_BYTES or len(text.encode("utf-8", "surrogatepass")) > MAX_QR_TEXT_BYTES:
        raise CredentialError(Reason.TOO_LARGE, f"QR text over {MAX_QR_TEXT_BYTES} bytes")
    for prefix in KNOWN_PREFIXES:
        if text.startswith(prefix):
            return prefix, text[len(prefix) :]
    raise CredentialError(Reason.BAD_PREFIX, "not a GP1: or HC1: code")


def b45decode(body: str) -> bytes:
    """Base45 (RFC 9285) to bytes; any malformed text is ``bad_base45``."""
    if not body:
        raise CredentialError(Reason.BAD_BASE45, "empty body")
    try:
        return bytes(base45.b45decode(body))
    except (ValueError, TypeError, UnicodeError) as exc:
        raise CredentialError(Reason.BAD_BASE45, "not Base45") from exc


def b45encode(data: bytes) -> str:
    """Bytes to Base45 text."""
    return str(base45.b45encode(data).decode("ascii"))


def inflate(data: bytes, limit: int = MAX_INFLATED_BYTES) -> bytes:
    """zlib (RFC 1950) inflate that never produces more than ``limit`` bytes.

    Output past the limit is ``too_large`` (the work stops after ``limit + 1`` bytes, so a bomb costs nothing);
    a stream that is corrupt, truncated or followed by trailing bytes is ``bad_zlib``.
    """
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(data, limit + 1)
    except zlib.error as exc:
        raise CredentialError(Reason.BAD_ZLIB, "corrupt zlib stream") from exc
    if len(out) > limit or inflater.unconsumed_tail:
        raise CredentialError(Reason.TOO_LARGE, f"inflates past {limit} bytes")
    if not inflater.eof:
        raise CredentialError(Reason.BAD_ZLIB, "truncated zlib stream")
    if inflater.unused_data:
        raise CredentialError(Reason.BAD_ZLIB, "bytes after the zlib stream")
    return out


def deflate(data: bytes) -> bytes:
    """zlib at the best compression: QR space is the scarce resource."""
    return zlib.compress(data, 9)


def cbor_loads(data: bytes, *, max_depth: int = MAX_CBOR_DEPTH, reason: Reason = Reason.BAD_CBOR) -> Any:  # noqa: ANN401
    """Decode one CBOR item, bounded in nesting depth, refusing duplicate map keys and trailing bytes.

    Item counts are bounded by the input size (cbor2 reads lazily and never allocates from a length header), and
    the input itself is bounded by whoever produced ``data``.
    """
    stream = io.BytesIO(data)
    try:
        value = cbor2.CBORDecoder(stream, max_depth=max_depth, allow_duplicate_keys=False).decode()
    except (cbor2.CBORDecodeError, ValueError, TypeError, OverflowError, RecursionError, MemoryError) as exc:
        raise CredentialError(reason, "malformed CBOR") from exc
    if stream.tell() != len(data):
        raise CredentialError(reason, "bytes after the CBOR item")
    return value


def cbor_dumps(value: object) -> bytes:
    """Deterministic CBOR (RFC 8949 core deterministic encoding) for everything we sign."""
    return cbor2.dumps(value, canonical=True)
