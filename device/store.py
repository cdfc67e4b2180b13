"""All SQL of the terminal: events, stream sequences, acknowledgements, retention and small persistent state.

Handed a ``sqlite_utils.Database`` (tests pass an in-memory one); the schema comes through
``sqlite_utils.Migrations``; every multi-step write is one transaction (``BEGIN IMMEDIATE``, see ``_write``).

Durability: a file database runs in WAL mode with ``synchronous=FULL``, so a transaction is on disk when its commit
returns. The scan loop drives the light first and commits right after, so a decision shown on the light is on disk
within one commit (a few milliseconds on an SD card, see ``tests/bench/bench_store.py``) after it was shown; it is
never acknowledged, sent or counted before it is durable. FULL rather than NORMAL because NORMAL can lose the last
commits on a power cut, and a lost row whose sequence number was already handed out would let the number be used
twice; at a checkpoint's pace (a person every few seconds) the fsync costs nothing anyone sees. Group commit does not
pay here for the same reason; the outbox reads in batches instead.

Sequence numbers: each stream has a 64-bit counter kept in the same transaction as the row it numbers, so a number
is never reused, across reboots and power cuts alike.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sqlite_utils import Database, Migrations

from protocol.identity import boot_for_store
from protocol.records import (
    MAX_IMAGE_BYTES,
    MAX_PHOTOS,
    ImageRef,
    IncidentRecord,
    RecordError,
    ScanRecord,
    SnapshotRecord,
    parse_incident_record,
    parse_snapshot_record,
)
from protocol.topics import Stream

log = logging.getLogger(__name__)

migrations = Migrations("gridpass-device")
STREAMS = tuple(s.value for s in Stream)
BUSY_TIMEOUT_S = 10.0
"""How long a writer waits for the other connection's transaction (scan loop and sync thread share the file)."""
_STORAGE_ERRORS = {sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN}


@migrations()
def m001_events(db: Database) -> None:
    """Streams with their counters, scan events, and key-value state."""
    db["streams"].create({"name": str, "next_seq": int, "acked_upto": int}, pk="name")  # type: ignore[union-attr]
    db["streams"].insert_all(  # type: ignore[union-attr]
        [{"name": name, "next_seq": 1, "acked_upto": 0} for name in STREAMS]
    )
    db["events"].create(  # type: ignore[union-attr]
        {
            "seq": int,
            "boot_id": str,
            "at": float,
            "time_source": str,
            "decision": str,
            "reason": str,
            "kind": str,
            "iss": str,
            "status": str,
            "rid": str,
            "latency_ms": float,
        },
        pk="seq",
        not_null={"boot_id", "at", "time_source", "decision", "reason"},
    )
    db["meta"].create({"key": str, "value": str}, pk="key")  # type: ignore[union-attr]


@migrations()
def m002_media(db: Database) -> None:
    """Incidents, snapshots and the image bytes they point at (BLOBs: written in the same transaction as the record).

    ``images.hub_has`` is how many contiguous bytes the hub said it holds; ``confirmed`` is set when the hub said the
    whole image arrived and its SHA-256 matched: only then may retention forget the bytes.
    """
    db["images"].create(  # type: ignore[union-attr]
        {
            "sha256": str,
            "content_type": str,
            "size": int,
            "width": int,
            "height": int,
            "data": bytes,
            "created_at": float,
            "hub_has": int,
            "confirmed": int,
        },
        pk="sha256",
        not_null={"content_type", "size", "data", "created_at", "hub_has", "confirmed"},
        defaults={"hub_has": 0, "confirmed": 0},
    )
    db["snapshots"].create(  # type: ignore[union-attr]
        {
            "seq": int,
            "boot_id": str,
            "at": float,
            "time_source": str,
            "camera": str,
            "trigger": str,
            "image_sha256": str,
        },
        pk="seq",
        not_null={"boot_id", "at", "time_source", "camera", "trigger", "image_sha256"},
        foreign_keys=[("image_sha256", "images", "sha256")],
    )
    db["incidents"].create(  # type: ignore[union-attr]
        {
            "seq": int,
            "boot_id": str,
            "at": float,
            "time_source": str,
            "category": str,
            "note": str,
            "lat": float,
            "lon": float,
            "accuracy_m": float,
            "grid_cell": str,
        },
        pk="seq",
        not_null={"boot_id", "at", "time_source", "category", "note"},
    )
    db["incident_photos"].create(  # type: ignore[union-attr]
        {"incident_seq": int, "position": int, "image_sha256": str},
        pk=("incident_seq", "position"),
        foreign_keys=[("incident_seq", "incidents", "seq"), ("image_sha256", "images", "sha256")],
    )
    db["snapshots"].create_index(["image_sha256"])  # type: ignore[union-attr]
    db["incident_photos"].create_index(["image_sha256"])  # type: ignore[union-attr]


@migrations()
def m003_store_identity(db: Database) -> None:
    """A random store id, made once with the store: every boot id starts with its tag (``protocol/identity.py``),
    so the hub tells a replaced store (numbering from 1 again) from the one it replaced."""
    db.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('store_id', ?)", [uuid.uuid4().hex])


_RECORD_TABLES = {Stream.EVENTS: "events", Stream.INCIDENTS: "incidents", Stream.SNAPSHOTS: "snapshots"}

_EVENT_COLUMNS = "seq, boot_id, at, time_source, decision, reason, kind, iss, status, rid, latency_ms"


def _stored(row: tuple[Any, ...]) -> StoredEvent:
    return StoredEvent(row[0], row[1], ScanEvent(*row[2:]))


class StoreError(Exception):
    """The store could not be opened or migrated, or refused a write; the message says what to do."""


class StoreFullError(StoreError):
    """Storage is full or failing: nothing of this write was kept, everything stored before is intact."""


class ImageError(StoreError):
    """An image (snapshot or incident photo) the store refuses."""


class ImageTooLargeError(ImageError):
    """An image larger than ``MAX_IMAGE_BYTES`` (the hub would refuse it too): scale it down first."""


class ImageFormatError(ImageError):
    """Bytes that are not a JPEG, PNG or WebP image."""


class IncidentError(StoreError):
    """An incident that does not fit the ``incidents`` record schema (too long a note, too many photos, ...)."""


@dataclass(frozen=True, slots=True)
class SnapshotMeta:
    """What the camera side knows about a snapshot; the store adds the boot id, the hash and the size."""

    at: float
    time_source: str
    camera: str
    trigger: str
    """``periodic``, ``motion``, ``command`` or ``decision``."""
    width: int
    height: int


@dataclass(frozen=True, slots=True)
class IncidentDraft:
    """An incident as the handheld files it (no name, no id number: category, note, where)."""

    at: float
    time_source: str
    category: str
    note: str
    lat: float | None = None
    lon: float | None = None
    accuracy_m: float | None = None
    grid_cell: str = ""


@dataclass(frozen=True, slots=True)
class ImageBudget:
    """Snapshot retention: only snapshots acknowledged and whose image the hub confirmed are ever removed."""

    max_bytes: int
    max_count: int
    max_age_s: float


@dataclass(frozen=True, slots=True)
class PendingImage:
    """An image the hub has not confirmed, whose record the hub has stored: ready to send in chunks."""

    sha256: str
    size: int
    content_type: str
    hub_has: int
    """Contiguous bytes the hub last said it holds: where sending resumes."""
    stream: Stream
    seq: int
    """The (first) record that points at it."""


def image_content_type(data: bytes) -> str:
    """The content type of JPEG, PNG or WebP bytes; :class:`ImageFormatError` for anything else."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    raise ImageFormatError("not a JPEG, PNG or WebP image")


def _check_image(data: bytes) -> tuple[str, str]:
    if not data:
        raise ImageFormatError("an empty image")
    if len(data) > MAX_IMAGE_BYTES:
        raise ImageTooLargeError(f"an image of {len(data)} bytes; at most {MAX_IMAGE_BYTES} are sent to the hub")
    return hashlib.sha256(data).hexdigest(), image_content_type(data)


@dataclass(frozen=True, slots=True)
class ScanEvent:
    """One decision as the terminal keeps it: reasons and hashes only, never the pass text, name or holder id."""

    at: float
    time_source: str
    """``hub``, ``ntp`` or ``untrusted``: where the terminal's time came from when it decided."""
    decision: str
    reason: str
    kind: str | None = None
    iss: str | None = None
    status: str | None = None
    rid: str | None = None
    """The credential's revocation id (hex of a hash)."""
    latency_ms: float | None = None


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """A scan event with its place in the stream."""

    seq: int
    boot_id: str
    event: ScanEvent


@dataclass(frozen=True, slots=True)
class Retention:
    """Budgets; only acknowledged rows are ever pruned."""

    max_rows: int
    max_bytes: int
    max_age_s: float


@dataclass(frozen=True, slots=True)
class RetentionResult:
    """What one pruning pass did, and whether the budget is under pressure (unacknowledged rows over budget)."""

    removed: int
    pressure: bool


def open_database(path: Path) -> Database:
    """Open (creating if needed) the terminal's database file with the durability settings described above."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        conn = sqlite3.connect(str(path), check_same_thread=False, timeout=BUSY_TIMEOUT_S)
        conn.execute("PRAGMA auto_vacuum=INCREMENTAL")  # effective only on a new file: pruned pages go back
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open the store {path}: {exc}; check the SD card and free space") from exc
    return Database(conn)


class DeviceStore:
    """The terminal's store. Not thread-safe by itself: the app gives each thread its own connection."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.unstored = 0
        """Events that could not be written (disk full, I/O error) since this process started."""
        try:
            migrations.apply(db)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot prepare the store: {exc}; check the SD card and free space") from exc

    @contextmanager
    def _write(self) -> Iterator[None]:
        """One write transaction that takes the write lock at BEGIN (IMMEDIATE).

        The scan loop and the sync thread each have a connection to the same file; a deferred transaction that reads
        and then writes could find its snapshot stale and fail with "database is locked" instead of waiting.
        """
        conn = self.db.conn
        if conn.in_transaction:  # nested: part of the caller's transaction
            yield
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            conn.rollback()  # a no-op when the error already ended the transaction
            raise
        conn.execute("COMMIT")

    # --- small persistent state -------------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        """A persisted value, or None."""
        rows = list(self.db.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchall())
        return str(rows[0][0]) if rows else None

    def set_meta(self, key: str, value: str) -> None:
        """Persist a value."""
        with self._write():
            self.db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", [key, value])

    def store_id(self) -> str:
        """This store's random id (made with the store; a replaced store has another)."""
        value = self.get_meta("store_id")
        if value is None:  # m003 makes it with the store
            raise StoreError("the store has no store id: it was not migrated")
        return value

    def renumber(self, bases: dict[Stream, int]) -> dict[Stream, int]:
        """The hub holds records of a store this one replaced up to ``bases[stream]``: move every unacknowledged
        record above it (its order kept), in one transaction; returns the shift per stream (0: nothing to move).

        Only unacknowledged records move: the hub stored none of them (it refused every batch of this store until
        an operator resolved it), and batches are sealed at send time, so nothing signed carries the old numbers.
        Applying the same bases again moves nothing.
        """
        shifts: dict[Stream, int] = {}
        with self._write():
            for stream, base in bases.items():
                acked = self.acked_upto(stream)
                if base < acked:
                    raise StoreError(f"cannot renumber {stream.value} above {base}: {acked} are acknowledged")
                shift = base - acked
                shifts[stream] = shift
                if not shift:
                    continue
                table = _RECORD_TABLES[stream]
                # two steps, so no row meets another's old number on the way (seq is the primary key)
                self.db.execute(f"UPDATE {table} SET seq = -seq WHERE seq > ?", [acked])
                self.db.execute(f"UPDATE {table} SET seq = ? - seq WHERE seq < 0", [shift])
                if stream is Stream.INCIDENTS:
                    self.db.execute("UPDATE incident_photos SET incident_seq = -incident_seq WHERE incident_seq > ?",
                                    [acked])  # fmt: skip
                    self.db.execute(
                        "UPDATE incident_photos SET incident_seq = ? - incident_seq WHERE incident_seq < 0", [shift]
                    )
                self.db.execute(
                    "UPDATE streams SET next_seq = next_seq + ?, acked_upto = ? WHERE name = ?",
                    [shift, base, stream.value],
                )
        return shifts

    def start_boot(self) -> str:
        """A new boot id, recorded with a boot counter; every event of this run carries it."""
        boot_id = boot_for_store(self.store_id(), uuid.uuid4().hex)
        with self._write():
            count = int(self.get_meta("boot_count") or 0) + 1
            self.db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('boot_count', ?)", [str(count)])
            self.db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('boot_id', ?)", [boot_id])
        return boot_id

    # --- events -----------------------------------------------------------------------------------------------

    def record_event(self, boot_id: str, event: ScanEvent) -> int | None:
        """Commit one event with the next sequence number of its stream; None when storage failed (counted)."""
        try:
            with self._write():
                seq = self._take_seq(Stream.EVENTS)
                self.db.execute(
                    f"INSERT INTO events ({_EVENT_COLUMNS}) VALUES (:seq, :boot_id, :at, :time_source, :decision,"
                    " :reason, :kind, :iss, :status, :rid, :latency_ms)",
                    {"seq": seq, "boot_id": boot_id, **asdict(event)},
                )
        except sqlite3.OperationalError as exc:
            if getattr(exc, "sqlite_errorcode", None) not in _STORAGE_ERRORS and "full" not in str(exc):
                raise
            self.unstored += 1
            log.warning("event not stored (%s); %d unstored since start", exc, self.unstored)
            return None
        return seq

    def _take_seq(self, stream: Stream) -> int:
        row = self.db.execute("SELECT next_seq FROM streams WHERE name = ?", [stream.value]).fetchone()
        seq = int(row[0])
        self.db.execute("UPDATE streams SET next_seq = ? WHERE name = ?", [seq + 1, stream.value])
        return seq

    def unacked_events(self, *, after: int = 0, limit: int = 500) -> list[StoredEvent]:
        """The oldest unacknowledged events after ``after``, at most ``limit``."""
        acked = self.acked_upto(Stream.EVENTS)
        cursor = self.db.execute(
            f"SELECT {_EVENT_COLUMNS} FROM events WHERE seq > ? ORDER BY seq LIMIT ?", [max(after, acked), limit]
        )
        return [_stored(row) for row in cursor.fetchall()]

    def acked_upto(self, stream: Stream) -> int:
        """The hub has durably stored this stream up to and including this sequence number."""
        row = self.db.execute("SELECT acked_upto FROM streams WHERE name = ?", [stream.value]).fetchone()
        return int(row[0])

    def ack(self, stream: Stream, upto: int) -> None:
        """Record the hub's acknowledgement; it only ever moves forward."""
        with self._write():
            self.db.execute(
                "UPDATE streams SET acked_upto = MAX(acked_upto, MIN(?, next_seq - 1)) WHERE name = ?",
                [upto, stream.value],
            )

    def backlog(self, stream: Stream) -> int:
        """Records of a stream not yet acknowledged."""
        table = {Stream.EVENTS: "events", Stream.INCIDENTS: "incidents", Stream.SNAPSHOTS: "snapshots"}[Stream(stream)]
        row = self.db.execute(
            f"SELECT COUNT(*) FROM {table} WHERE seq > (SELECT acked_upto FROM streams WHERE name = ?)",
            [Stream(stream).value],
        ).fetchone()
        return int(row[0])

    def last_event(self) -> StoredEvent | None:
        """The most recent event, acknowledged or not."""
        row = self.db.execute(f"SELECT {_EVENT_COLUMNS} FROM events ORDER BY seq DESC LIMIT 1").fetchone()
        return _stored(row) if row else None

    def events(self) -> Iterator[StoredEvent]:
        """Every event held, oldest first."""
        for row in self.db.execute(f"SELECT {_EVENT_COLUMNS} FROM events ORDER BY seq"):
            yield _stored(row)

    # --- incidents, snapshots and their images -----------------------------------------------------------------

    def _current_boot(self) -> str:
        boot = self.get_meta("boot_id")
        return boot if boot is not None else self.start_boot()

    def _put_image(self, ref: ImageRef, data: bytes, at: float) -> None:
        sha, content_type, width, height = ref.sha256, ref.content_type, ref.width, ref.height
        self.db.execute(
            "INSERT OR IGNORE INTO images (sha256, content_type, size, width, height, data, created_at, hub_has,"
            " confirmed) VALUES (?, ?, ?, ?, ?, ?, ?, 0, 0)",
            [sha, content_type, len(data), width, height, data, at],
        )

    @contextmanager
    def _storing(self, what: str) -> Iterator[None]:
        """A write transaction whose storage failure becomes :class:`StoreFullError` (nothing of it kept)."""
        try:
            with self._write():
                yield
        except sqlite3.OperationalError as exc:
            if getattr(exc, "sqlite_errorcode", None) not in _STORAGE_ERRORS and "full" not in str(exc):
                raise
            self.unstored += 1
            log.warning("%s not stored (%s); %d unstored since start", what, exc, self.unstored)
            raise StoreFullError(f"{what} not stored: {exc}; free space on the SD card") from exc

    def add_snapshot(self, meta: SnapshotMeta, jpeg: bytes) -> int:
        """Commit a snapshot and its image in one transaction with the next ``snapshots`` seq, which it returns.

        Raises :class:`ImageError` for an image the hub would refuse, :class:`StoreFullError` when storage failed.
        """
        sha, content_type = _check_image(jpeg)
        with self._storing("snapshot"):
            boot = self._current_boot()
            ref = ImageRef(sha, len(jpeg), content_type, meta.width, meta.height)
            record = SnapshotRecord(boot, meta.at, meta.time_source, meta.camera, meta.trigger, ref)
            try:
                parse_snapshot_record(record.fields())
            except RecordError as exc:
                raise ImageError(f"snapshot refused: {exc}") from exc
            seq = self._take_seq(Stream.SNAPSHOTS)
            self._put_image(ref, jpeg, meta.at)
            self.db.execute(
                "INSERT INTO snapshots (seq, boot_id, at, time_source, camera, trigger, image_sha256)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                [seq, boot, meta.at, meta.time_source, meta.camera, meta.trigger, sha],
            )
        return seq

    def add_incident(self, draft: IncidentDraft, photos: Sequence[bytes]) -> int:
        """Commit an incident and its photos in one transaction with the next ``incidents`` seq, which it returns.

        Raises :class:`IncidentError` or :class:`ImageError` for what the hub would refuse (nothing is stored then),
        :class:`StoreFullError` when storage failed.
        """
        if len(photos) > MAX_PHOTOS:
            raise IncidentError(f"{len(photos)} photos; an incident carries at most {MAX_PHOTOS}")
        refs: dict[str, tuple[ImageRef, bytes]] = {}
        for photo in photos:
            sha, content_type = _check_image(photo)
            refs.setdefault(sha, (ImageRef(sha, len(photo), content_type), photo))  # the same photo twice: once
        with self._storing("incident"):
            boot = self._current_boot()
            position = (draft.lat, draft.lon, draft.accuracy_m)
            photo_refs = tuple(ref for ref, _ in refs.values())
            record = IncidentRecord(boot, draft.at, draft.time_source, draft.category, draft.note, *position,
                                    grid_cell=draft.grid_cell or None, photos=photo_refs)  # fmt: skip
            try:
                parse_incident_record(record.fields())
            except RecordError as exc:
                raise IncidentError(f"incident refused: {exc}") from exc
            if (draft.lat is None) != (draft.lon is None):
                raise IncidentError("a position needs both lat and lon")
            seq = self._take_seq(Stream.INCIDENTS)
            self.db.execute(
                "INSERT INTO incidents (seq, boot_id, at, time_source, category, note, lat, lon, accuracy_m,"
                " grid_cell) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [seq, boot, draft.at, draft.time_source, draft.category, draft.note, draft.lat, draft.lon,
                 draft.accuracy_m if draft.lat is not None else None, draft.grid_cell or None],
            )  # fmt: skip
            for index, (ref, photo) in enumerate(refs.values()):
                self._put_image(ref, photo, draft.at)
                self.db.execute(
                    "INSERT INTO incident_photos (incident_seq, position, image_sha256) VALUES (?, ?, ?)",
                    [seq, index, ref.sha256],
                )
        return seq

    def _photo_ref(self, sha: str) -> ImageRef:
        row = self.db.execute("SELECT sha256, size, content_type FROM images WHERE sha256 = ?", [sha]).fetchone()
        return ImageRef(row[0], int(row[1]), row[2])

    def unacked_records(self, stream: Stream, *, after: int = 0, limit: int = 500) -> list[tuple[int, dict[str, Any]]]:
        """The oldest unacknowledged records of a stream after ``after`` (at most ``limit``), as envelope fields."""
        start = max(after, self.acked_upto(stream))
        if stream is Stream.EVENTS:
            return [(row.seq, _scan_fields(row)) for row in self.unacked_events(after=start, limit=limit)]
        if stream is Stream.SNAPSHOTS:
            return [(seq, record.fields()) for seq, record in self.snapshots(after=start, limit=limit)]
        return [(seq, record.fields()) for seq, record in self.incidents(after=start, limit=limit)]

    def snapshots(self, *, after: int = 0, limit: int = 500, newest_first: bool = False) -> list[
            tuple[int, SnapshotRecord]]:  # fmt: skip
        """Snapshots held (acknowledged or not) after ``after``, oldest first unless ``newest_first``."""
        order = "DESC" if newest_first else "ASC"
        rows = self.db.execute(
            "SELECT s.seq, s.boot_id, s.at, s.time_source, s.camera, s.trigger, i.sha256, i.size, i.content_type,"
            f" i.width, i.height FROM snapshots s JOIN images i ON i.sha256 = s.image_sha256 WHERE s.seq > ?"
            f" ORDER BY s.seq {order} LIMIT ?",
            [after, limit],
        ).fetchall()
        return [
            (int(r[0]), SnapshotRecord(r[1], r[2], r[3], r[4], r[5], ImageRef(r[6], int(r[7]), r[8], r[9], r[10])))
            for r in rows
        ]

    def incidents(self, *, after: int = 0, limit: int = 500, newest_first: bool = False) -> list[
            tuple[int, IncidentRecord]]:  # fmt: skip
        """Incidents held (acknowledged or not) after ``after``, oldest first unless ``newest_first``."""
        order = "DESC" if newest_first else "ASC"
        rows = self.db.execute(
            "SELECT seq, boot_id, at, time_source, category, note, lat, lon, accuracy_m, grid_cell FROM incidents"
            f" WHERE seq > ? ORDER BY seq {order} LIMIT ?",
            [after, limit],
        ).fetchall()
        out = []
        for r in rows:
            shas = self.db.execute(
                "SELECT image_sha256 FROM incident_photos WHERE incident_seq = ? ORDER BY position", [r[0]]
            ).fetchall()
            photos = tuple(self._photo_ref(sha) for (sha,) in shas)
            out.append((int(r[0]), IncidentRecord(r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], photos)))
        return out

    def pending_images(self, limit: int = 16) -> list[PendingImage]:
        """Images not confirmed by the hub whose record the hub has acknowledged: incident photos first (they carry
        a worker's report), then snapshots, oldest record first."""
        incidents_acked, snapshots_acked = self.acked_upto(Stream.INCIDENTS), self.acked_upto(Stream.SNAPSHOTS)
        rows = self.db.execute(
            "SELECT i.sha256, i.size, i.content_type, i.hub_has, r.stream, r.seq FROM images i JOIN ("
            " SELECT image_sha256 AS sha, 'incidents' AS stream, MIN(incident_seq) AS seq, 0 AS rank"
            "  FROM incident_photos WHERE incident_seq <= ? GROUP BY image_sha256"
            " UNION ALL SELECT image_sha256, 'snapshots', MIN(seq), 1 FROM snapshots WHERE seq <= ?"
            "  GROUP BY image_sha256) r ON r.sha = i.sha256"
            " WHERE i.confirmed = 0 ORDER BY r.rank, r.seq LIMIT ?",
            [incidents_acked, snapshots_acked, limit * 2],
        ).fetchall()
        seen: dict[str, PendingImage] = {}
        for sha, size, content_type, hub_has, stream, seq in rows:
            if sha not in seen and len(seen) < limit:
                seen[sha] = PendingImage(sha, int(size), content_type, int(hub_has), Stream(stream), int(seq))
        return list(seen.values())

    def image_chunk(self, sha: str, offset: int, length: int) -> bytes:
        """``length`` bytes of an image from ``offset`` (fewer at its end; empty when the image is not held)."""
        row = self.db.execute(
            "SELECT substr(data, ?, ?) FROM images WHERE sha256 = ?", [offset + 1, length, sha]
        ).fetchone()
        return bytes(row[0]) if row and row[0] is not None else b""

    def image_bytes(self, sha: str) -> bytes | None:
        """A whole image held on the terminal, or None."""
        row = self.db.execute("SELECT data FROM images WHERE sha256 = ?", [sha]).fetchone()
        return bytes(row[0]) if row else None

    def set_image_progress(self, sha: str, hub_has: int, *, complete: bool) -> None:
        """Record what the hub said about an image: the bytes it holds, and whether the whole arrived and checked.

        Progress only moves forward here (answers from several hub workers may cross); see :meth:`restart_image`.
        """
        with self._write():
            self.db.execute(
                "UPDATE images SET hub_has = MAX(hub_has, MIN(?, size)), confirmed = MAX(confirmed, ?)"
                " WHERE sha256 = ?",
                [hub_has, int(complete), sha],
            )

    def restart_image(self, sha: str) -> None:
        """The hub received the whole image and its SHA-256 did not match: it dropped it, send again from 0."""
        with self._write():
            self.db.execute("UPDATE images SET hub_has = 0 WHERE sha256 = ? AND confirmed = 0", [sha])

    def image_backlog(self) -> tuple[int, int]:
        """Images not confirmed by the hub: (count, bytes still to send)."""
        row = self.db.execute("SELECT COUNT(*), COALESCE(SUM(size - hub_has), 0) FROM images WHERE confirmed = 0")
        count, remaining = row.fetchone()
        return int(count), int(remaining)

    def prune_snapshots(self, budget: ImageBudget, now: float) -> RetentionResult:
        """Remove snapshots past any budget, oldest first, but only those acknowledged whose image the hub
        confirmed; ``pressure`` when what is left (unconfirmed) is still over the count or byte budget."""
        acked = self.acked_upto(Stream.SNAPSHOTS)
        removable = (
            "SELECT s.seq FROM snapshots s JOIN images i ON i.sha256 = s.image_sha256"
            " WHERE s.seq <= :acked AND i.confirmed = 1"
        )
        removed = 0
        with self._write():
            removed += self.db.execute(
                f"DELETE FROM snapshots WHERE seq IN ({removable} AND s.at < :cutoff)",
                {"acked": acked, "cutoff": now - budget.max_age_s},
            ).rowcount
            count, size = self._snapshot_totals()
            if count > budget.max_count:
                removed += self.db.execute(
                    f"DELETE FROM snapshots WHERE seq IN ({removable} ORDER BY s.seq LIMIT :n)",
                    {"acked": acked, "n": count - budget.max_count},
                ).rowcount
            count, size = self._snapshot_totals()
            if size > budget.max_bytes:
                rows = self.db.execute(f"{removable.replace('s.seq FROM', 's.seq, i.size FROM')} ORDER BY s.seq",
                                       {"acked": acked}).fetchall()  # fmt: skip
                doomed = []
                for seq, image_size in rows:
                    if size <= budget.max_bytes:
                        break
                    doomed.append(seq)
                    size -= int(image_size)
                for start in range(0, len(doomed), 500):
                    part = doomed[start : start + 500]
                    removed += self.db.execute(
                        f"DELETE FROM snapshots WHERE seq IN ({', '.join('?' * len(part))})", part
                    ).rowcount
            self._drop_unreferenced_images()
            count, size = self._snapshot_totals()
        if removed:
            self.db.execute("PRAGMA incremental_vacuum")
        return RetentionResult(removed, count > budget.max_count or size > budget.max_bytes)

    def prune_incidents(self, budget: ImageBudget, now: float) -> RetentionResult:
        """Remove incidents past any budget (bytes: their photos), oldest first, but only those acknowledged whose
        every photo the hub confirmed; ``pressure`` when what is left is still over the count or byte budget."""
        acked = self.acked_upto(Stream.INCIDENTS)
        with self._write():
            rows = self.db.execute(
                "SELECT n.seq, n.at, COALESCE(SUM(i.size), 0), COALESCE(MIN(i.confirmed), 1) FROM incidents n"
                " LEFT JOIN incident_photos p ON p.incident_seq = n.seq LEFT JOIN images i ON i.sha256 = p.image_sha256"
                " GROUP BY n.seq ORDER BY n.seq"
            ).fetchall()
            count = len(rows)
            size = sum(int(row[2]) for row in rows)
            doomed = []
            for seq, at, photo_bytes, confirmed in rows:
                if seq > acked or not confirmed:
                    continue
                if at < now - budget.max_age_s or count > budget.max_count or size > budget.max_bytes:
                    doomed.append(seq)
                    count -= 1
                    size -= int(photo_bytes)
            for start in range(0, len(doomed), 500):
                part = doomed[start : start + 500]
                marks = ", ".join("?" * len(part))
                self.db.execute(f"DELETE FROM incident_photos WHERE incident_seq IN ({marks})", part)
                self.db.execute(f"DELETE FROM incidents WHERE seq IN ({marks})", part)
            self._drop_unreferenced_images()
        if doomed:
            self.db.execute("PRAGMA incremental_vacuum")
        return RetentionResult(len(doomed), count > budget.max_count or size > budget.max_bytes)

    def _drop_unreferenced_images(self) -> None:
        self.db.execute(
            "DELETE FROM images WHERE sha256 NOT IN (SELECT image_sha256 FROM snapshots)"
            " AND sha256 NOT IN (SELECT image_sha256 FROM incident_photos)"
        )

    def _snapshot_totals(self) -> tuple[int, int]:
        row = self.db.execute(
            "SELECT COUNT(*), COALESCE(SUM(i.size), 0) FROM snapshots s JOIN images i ON i.sha256 = s.image_sha256"
        ).fetchone()
        return int(row[0]), int(row[1])

    # --- retention --------------------------------------------------------------------------------------------

    def size_bytes(self) -> int:
        """Bytes the database occupies, free pages excluded."""
        page_size = self.db.execute("PRAGMA page_size").fetchone()[0]
        pages = self.db.execute("PRAGMA page_count").fetchone()[0]
        free = self.db.execute("PRAGMA freelist_count").fetchone()[0]
        return int((pages - free) * page_size)

    def prune(self, budget: Retention, now: float) -> RetentionResult:
        """Remove acknowledged events past any budget (oldest first); report pressure when that is not enough."""
        acked = self.acked_upto(Stream.EVENTS)
        removed = 0
        with self._write():
            removed += self.db.execute(
                "DELETE FROM events WHERE seq <= ? AND at < ?", [acked, now - budget.max_age_s]
            ).rowcount
            total = int(self.db.execute("SELECT COUNT(*) FROM events").fetchone()[0])
            if total > budget.max_rows:
                removed += self.db.execute(
                    "DELETE FROM events WHERE seq IN (SELECT seq FROM events WHERE seq <= ? ORDER BY seq LIMIT ?)",
                    [acked, total - budget.max_rows],
                ).rowcount
        while self.size_bytes() > budget.max_bytes:
            with self._write():
                step = self.db.execute(
                    "DELETE FROM events WHERE seq IN (SELECT seq FROM events WHERE seq <= ? ORDER BY seq LIMIT 1000)",
                    [acked],
                ).rowcount
            if not step:
                break
            removed += step
        self.db.execute("PRAGMA incremental_vacuum")
        total = int(self.db.execute("SELECT COUNT(*) FROM events").fetchone()[0])
        pressure = total > budget.max_rows or self.size_bytes() > budget.max_bytes
        return RetentionResult(removed, pressure)

    def counts(self) -> dict[str, Any]:
        """Per-stream counters for status pages."""
        rows = self.db.execute("SELECT name, next_seq, acked_upto FROM streams ORDER BY name").fetchall()
        return {
            name: {"next_seq": next_seq, "acked_upto": acked, "backlog": self.backlog(Stream(name))}
            for name, next_seq, acked in rows
        }


def _scan_fields(row: StoredEvent) -> dict[str, Any]:
    event = row.event
    return ScanRecord(
        boot=row.boot_id,
        at=event.at,
        time_source=event.time_source,
        decision=event.decision,
        reason=event.reason,
        kind=event.kind,
        iss=event.iss,
        status=event.status,
        rid=event.rid,
        latency_ms=event.latency_ms,
    ).fields()
