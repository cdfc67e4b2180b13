"""Incidents, snapshots and their images at the hub: the record rows a batch brings, the image chunks, and the
queries of the dashboard and the API.

A stored signed record (incident or snapshot) announces each image it points at: an ``images`` row with the SHA-256,
size and content type the device signed. Chunks (``protocol/media.py``) are accepted only for an announced image,
only inside its announced size and at most ``MAX_AHEAD_BYTES`` past what is held; each is one transaction that locks
the image's row, so several hub workers (shared subscription) may store chunks of one image in any order. ``have``
is how many bytes from 0 are held without a hole; it is committed before the device hears it, so a hub restart
resumes where it stopped. When ``have`` reaches the size the SHA-256 of the whole is checked: a match makes the image
``complete`` (only complete images are ever served), a mismatch drops every chunk and the device starts over
(counted as ``bad_hash``; so does a device past ``max_chunk_rows``, counted as ``too_many_chunks``). Bytes live in
the database (``image_chunks``), on SQLite and PostgreSQL alike, so a backup of the database is a backup of the
images.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub.storage.engine import Target, dialect_insert, reading, writing
from hub.storage.errors import InvalidValueError
from hub.storage.models import (
    CAMERA_LEN,
    CATEGORY_LEN,
    GRID_CELL_LEN,
    NOTE_LEN,
    Image,
    ImageChunk,
    Incident,
    IncidentPhoto,
    Snapshot,
    check_text,
)
from protocol.media import MIN_CHUNK_BYTES, Chunk, ImageStatus, MediaError, Progress, check_chunk
from protocol.records import ImageRef, IncidentRecord, SnapshotRecord

MAX_AHEAD_BYTES = 4 * 1024 * 1024
"""A chunk may start at most this far past the bytes held without a hole (chunks from several workers cross)."""
CHUNK_ROWS_SLACK = 16
MAX_LIST = 500
"""Rows one listing returns, at most."""


def max_chunk_rows(size: int) -> int:
    """Chunk rows one image may have: twice the smallest-chunk count, plus slack (resends with other offsets)."""
    return 2 * math.ceil(size / MIN_CHUNK_BYTES) + CHUNK_ROWS_SLACK


@dataclass(frozen=True, slots=True)
class ChunkResult:
    """What storing a chunk did: the answer for the device, and a refusal reason to count (None: accepted)."""

    progress: Progress
    refusal: str | None = None
    stored_bytes: int = 0


@dataclass(frozen=True, slots=True)
class ImageView:
    """An image as operators see it (its bytes through :func:`get_image` once complete)."""

    sha256: str
    size: int
    content_type: str
    have: int
    complete: bool


@dataclass(frozen=True, slots=True)
class IncidentView:
    """A stored incident report."""

    device_id: str
    seq: int
    at: float
    time_source: str
    category: str
    note: str
    lat: float | None
    lon: float | None
    accuracy_m: float | None
    grid_cell: str | None
    received_at: float
    photos: tuple[ImageView, ...]


@dataclass(frozen=True, slots=True)
class SnapshotView:
    """A stored snapshot with its image's state."""

    device_id: str
    seq: int
    at: float
    time_source: str
    camera: str
    trigger: str
    width: int
    height: int
    received_at: float
    image: ImageView


@dataclass(frozen=True, slots=True)
class MediaCounts:
    """Counted from the stored rows."""

    incidents: int
    snapshots: int
    images: int
    images_complete: int
    image_bytes_held: int
    image_restarts: int


# --- records (called by ``ingest.store_batch`` inside its transaction) ---------------------------------------------


def incident_rows(device_id: str, records: Sequence[tuple[int, IncidentRecord]], now: float) -> list[dict[str, object]]:
    """The ``incidents`` rows of a batch (texts checked against their columns)."""
    rows: list[dict[str, object]] = []
    for seq, record in records:
        check_text("category", record.category, CATEGORY_LEN)
        check_text("note", record.note, NOTE_LEN)
        check_text("grid_cell", record.grid_cell, GRID_CELL_LEN)
        rows.append({
            "device_id": device_id, "seq": seq, "boot": record.boot, "at": record.at,
            "time_source": record.time_source, "category": record.category, "note": record.note, "lat": record.lat,
            "lon": record.lon, "accuracy_m": record.accuracy_m, "grid_cell": record.grid_cell,
            "photos": len(record.photos), "received_at": now,
        })  # fmt: skip
    return rows


def snapshot_rows(device_id: str, records: Sequence[tuple[int, SnapshotRecord]], now: float) -> list[dict[str, object]]:
    """The ``snapshots`` rows of a batch."""
    rows: list[dict[str, object]] = []
    for seq, record in records:
        check_text("camera", record.camera, CAMERA_LEN)
        if record.image.width is None or record.image.height is None:
            raise InvalidValueError("a snapshot's image has a width and a height")
        rows.append({
            "device_id": device_id, "seq": seq, "boot": record.boot, "at": record.at,
            "time_source": record.time_source, "camera": record.camera, "trigger": record.trigger,
            "image_sha256": record.image.sha256, "width": record.image.width, "height": record.image.height,
            "received_at": now,
        })  # fmt: skip
    return rows


def insert_incidents(
    conn: Connection, device_id: str, new: Sequence[tuple[dict[str, object], IncidentRecord]], now: float
) -> None:
    """Insert new incident rows (the seqs not held yet), their photo links, and announce their images."""
    conn.execute(dialect_insert(conn, Incident).on_conflict_do_nothing(), [row for row, _ in new])
    photos = [
        {"device_id": device_id, "seq": row["seq"], "position": position, "image_sha256": ref.sha256}
        for row, record in new
        for position, ref in enumerate(record.photos)
    ]
    if photos:
        conn.execute(dialect_insert(conn, IncidentPhoto).on_conflict_do_nothing(), photos)
    _announce(conn, device_id, [ref for _, record in new for ref in record.photos], now)


def insert_snapshots(
    conn: Connection, device_id: str, new: Sequence[tuple[dict[str, object], SnapshotRecord]], now: float
) -> None:
    """Insert new snapshot rows (the seqs not held yet) and announce their images."""
    conn.execute(dialect_insert(conn, Snapshot).on_conflict_do_nothing(), [row for row, _ in new])
    _announce(conn, device_id, [record.image for _, record in new], now)


def _announce(conn: Connection, device_id: str, refs: list[ImageRef], now: float) -> None:
    """An ``images`` row for each image a signed record announced (the first announcement of a hash wins)."""
    unique = {ref.sha256: ref for ref in reversed(refs)}
    if unique:
        conn.execute(
            dialect_insert(conn, Image).on_conflict_do_nothing(),
            [
                {"device_id": device_id, "sha256": ref.sha256, "size": ref.size, "content_type": ref.content_type,
                 "have": 0, "complete": False, "chunks": 0, "restarts": 0, "created_at": now}
                for ref in unique.values()
            ],
        )  # fmt: skip


# --- chunks ----------------------------------------------------------------------------------------------------------


def store_chunk(target: Target, device_id: str, chunk: Chunk, *, now: float) -> ChunkResult:
    """Store one chunk of an announced image (one transaction, under the image row's lock); see the module notes.

    A chunk outside the bounds of ``protocol.media.check_chunk`` is :class:`InvalidValueError` (nothing stored).
    """
    try:
        check_chunk(chunk)
    except MediaError as exc:
        raise InvalidValueError(f"chunk refused: {exc}") from exc
    with writing(target) as conn:
        row = conn.execute(
            sa.select(Image.size, Image.have, Image.complete, Image.chunks)
            .where(Image.device_id == device_id, Image.sha256 == chunk.sha256)
            .with_for_update()
        ).one_or_none()
        if row is None:
            return ChunkResult(Progress(chunk.sha256, 0, ImageStatus.UNKNOWN), "unknown_image")
        size, have, complete, rows = int(row[0]), int(row[1]), bool(row[2]), int(row[3])
        if complete:
            return ChunkResult(Progress(chunk.sha256, size, ImageStatus.COMPLETE))
        partial = Progress(chunk.sha256, have, ImageStatus.PARTIAL)
        if chunk.size != size:
            return ChunkResult(partial, "chunk_size_mismatch")
        if chunk.end <= have:
            return ChunkResult(partial)  # held already: a resend after a cut
        if chunk.offset > have + MAX_AHEAD_BYTES:
            return ChunkResult(partial, "chunk_ahead")
        if rows >= max_chunk_rows(size):  # only a device resending at ever other offsets gets here: start over
            _drop_chunks(conn, device_id, chunk.sha256)
            return ChunkResult(Progress(chunk.sha256, 0, ImageStatus.RESTART), "too_many_chunks")
        start = max(chunk.offset, have)
        data = chunk.data[start - chunk.offset :]
        inserted = (
            conn.execute(
                dialect_insert(conn, ImageChunk)
                .values(device_id=device_id, sha256=chunk.sha256, start=start, length=len(data), data=data)
                .on_conflict_do_nothing()
                .returning(ImageChunk.start)
            ).scalar_one_or_none()
            is not None
        )
        if not inserted:
            data = b""  # these bytes at this offset were held already
        have = _contiguous(conn, device_id, chunk.sha256, have)
        values: dict[str, object] = {"have": have, "chunks": rows + int(inserted)}
        if have < size:
            result = ChunkResult(Progress(chunk.sha256, have, ImageStatus.PARTIAL), stored_bytes=len(data))
        elif _whole_sha256(conn, device_id, chunk.sha256, size) == chunk.sha256:
            values |= {"have": size, "complete": True, "completed_at": now}
            result = ChunkResult(Progress(chunk.sha256, size, ImageStatus.COMPLETE), stored_bytes=len(data))
        else:
            _drop_chunks(conn, device_id, chunk.sha256)
            return ChunkResult(Progress(chunk.sha256, 0, ImageStatus.RESTART), "bad_hash")
        conn.execute(
            sa.update(Image).where(Image.device_id == device_id, Image.sha256 == chunk.sha256).values(**values)
        )
    return result


def _drop_chunks(conn: Connection, device_id: str, sha: str) -> None:
    """Forget every byte held of an image: the device sends it again from 0."""
    conn.execute(sa.delete(ImageChunk).where(ImageChunk.device_id == device_id, ImageChunk.sha256 == sha))
    conn.execute(
        sa.update(Image)
        .where(Image.device_id == device_id, Image.sha256 == sha)
        .values(have=0, chunks=0, restarts=Image.restarts + 1)
    )


def _contiguous(conn: Connection, device_id: str, sha: str, have: int) -> int:
    """Bytes from 0 held without a hole, walking the chunk rows that reach past ``have``."""
    rows = conn.execute(
        sa.select(ImageChunk.start, ImageChunk.length)
        .where(
            ImageChunk.device_id == device_id,
            ImageChunk.sha256 == sha,
            ImageChunk.start + ImageChunk.length > have,
        )
        .order_by(ImageChunk.start)
    ).all()
    for start, length in rows:
        if start > have:
            break
        have = max(have, int(start) + int(length))
    return have


def _chunks(conn: Connection, device_id: str, sha: str, size: int) -> list[bytes]:
    """The image's bytes 0..size as pieces, overlaps cut away."""
    pieces: list[bytes] = []
    position = 0
    rows = conn.execute(
        sa.select(ImageChunk.start, ImageChunk.data)
        .where(ImageChunk.device_id == device_id, ImageChunk.sha256 == sha)
        .order_by(ImageChunk.start)
    )
    for start, data in rows:
        end = int(start) + len(data)
        if int(start) > position or position >= size:
            break
        if end > position:
            pieces.append(bytes(data[position - int(start) :]))
            position = end
    if position < size:
        raise InvalidValueError(f"image {sha[:12]} is held only up to byte {position} of {size}")
    return pieces


def _whole_sha256(conn: Connection, device_id: str, sha: str, size: int) -> str:
    digest = hashlib.sha256()
    for piece in _chunks(conn, device_id, sha, size):
        digest.update(piece)
    return digest.hexdigest()


# --- queries -----------------------------------------------------------------------------------------------------


def _view(row: sa.Row[str, int, str, int, bool]) -> ImageView:
    return ImageView(row[0], int(row[1]), row[2], int(row[3]), bool(row[4]))


_IMAGE_COLUMNS = (Image.sha256, Image.size, Image.content_type, Image.have, Image.complete)


def _limit(limit: int) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 0 < limit <= MAX_LIST:
        raise InvalidValueError(f"limit must be 1..{MAX_LIST}")
    return limit


def list_incidents(
    target: Target, *, device: str | None = None, limit: int = 50, before: float | None = None
) -> list[IncidentView]:
    """Incidents, newest (by the device's ``at``) first; ``before``: only those with ``at`` below it (paging)."""
    query = sa.select(Incident).order_by(Incident.at.desc(), Incident.device_id, Incident.seq.desc())
    if device is not None:
        query = query.where(Incident.device_id == device)
    if before is not None:
        query = query.where(Incident.at < before)
    with reading(target) as conn:
        incidents = conn.execute(query.limit(_limit(limit))).all()
        photos: dict[tuple[str, int], list[ImageView]] = {}
        if incidents:
            keys = [(row.device_id, row.seq) for row in incidents]
            photo_rows = conn.execute(
                sa.select(IncidentPhoto.device_id, IncidentPhoto.seq, *_IMAGE_COLUMNS)
                .join(
                    Image,
                    sa.and_(Image.device_id == IncidentPhoto.device_id, Image.sha256 == IncidentPhoto.image_sha256),
                )
                .where(sa.tuple_(IncidentPhoto.device_id, IncidentPhoto.seq).in_(keys))
                .order_by(IncidentPhoto.device_id, IncidentPhoto.seq, IncidentPhoto.position)
            ).all()
            for row in photo_rows:
                photos.setdefault((row[0], int(row[1])), []).append(
                    ImageView(row[2], int(row[3]), row[4], int(row[5]), bool(row[6]))
                )
    return [
        IncidentView(
            row.device_id,
            int(row.seq),
            row.at,
            row.time_source,
            row.category,
            row.note,
            row.lat,
            row.lon,
            row.accuracy_m,
            row.grid_cell,
            row.received_at,
            tuple(photos.get((row.device_id, int(row.seq)), [])),
        )
        for row in incidents
    ]


def list_snapshots(
    target: Target, *, device: str | None = None, limit: int = 50, before: float | None = None
) -> list[SnapshotView]:
    """Snapshots with their image's state, newest (by the device's ``at``) first; ``before`` as for incidents."""
    query = (
        sa.select(Snapshot, *_IMAGE_COLUMNS)
        .join(Image, sa.and_(Image.device_id == Snapshot.device_id, Image.sha256 == Snapshot.image_sha256))
        .order_by(Snapshot.at.desc(), Snapshot.device_id, Snapshot.seq.desc())
    )
    if device is not None:
        query = query.where(Snapshot.device_id == device)
    if before is not None:
        query = query.where(Snapshot.at < before)
    with reading(target) as conn:
        rows = conn.execute(query.limit(_limit(limit))).all()
    return [
        SnapshotView(
            row.device_id,
            int(row.seq),
            row.at,
            row.time_source,
            row.camera,
            row.trigger,
            int(row.width),
            int(row.height),
            row.received_at,
            ImageView(row.sha256, int(row.size), row.content_type, int(row.have), bool(row.complete)),
        )
        for row in rows
    ]


def image_info(target: Target, sha256: str) -> ImageView | None:
    """A complete image's size and content type (for serving it), or None when no complete image has this hash."""
    with reading(target) as conn:
        row = conn.execute(
            sa.select(*_IMAGE_COLUMNS).where(Image.sha256 == sha256, Image.complete.is_(True)).limit(1)
        ).one_or_none()
    return None if row is None else _view(row)


def get_image(target: Target, sha256: str) -> bytes | None:
    """The bytes of a complete image (its SHA-256 checked when it completed), or None; partial images never."""
    with reading(target) as conn:
        row = conn.execute(
            sa.select(Image.device_id, Image.size)
            .where(Image.sha256 == sha256, Image.complete.is_(True))
            .order_by(Image.completed_at)
            .limit(1)
        ).one_or_none()
        if row is None:
            return None
        return b"".join(_chunks(conn, row[0], sha256, int(row[1])))


def image_progress(target: Target, device_id: str, sha256: str) -> Progress:
    """What the hub holds of one device's image (UNKNOWN when no record announced it)."""
    with reading(target) as conn:
        row = conn.execute(
            sa.select(Image.have, Image.complete).where(Image.device_id == device_id, Image.sha256 == sha256)
        ).one_or_none()
    if row is None:
        return Progress(sha256, 0, ImageStatus.UNKNOWN)
    return Progress(sha256, int(row[0]), ImageStatus.COMPLETE if row[1] else ImageStatus.PARTIAL)


def media_counts(target: Target, *, device: str | None = None) -> MediaCounts:
    """Incidents, snapshots and images stored (for one device, or all)."""
    count = sa.func.count()
    queries = [
        sa.select(count).select_from(Incident).where(*([Incident.device_id == device] if device else [])),
        sa.select(count).select_from(Snapshot).where(*([Snapshot.device_id == device] if device else [])),
    ]
    mine = [Image.device_id == device] if device else []
    queries += [
        sa.select(count).select_from(Image).where(*mine),
        sa.select(count).select_from(Image).where(Image.complete.is_(True), *mine),
        sa.select(sa.func.coalesce(sa.func.sum(Image.have), 0)).where(*mine),
        sa.select(sa.func.coalesce(sa.func.sum(Image.restarts), 0)).where(*mine),
    ]
    with reading(target) as conn:
        values = [int(conn.execute(query).scalar_one()) for query in queries]
    return MediaCounts(*values)
