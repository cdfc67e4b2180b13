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

import logging
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sqlite_utils import Database, Migrations

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


_EVENT_COLUMNS = "seq, boot_id, at, time_source, decision, reason, kind, iss, status, rid, latency_ms"


def _stored(row: tuple[Any, ...]) -> StoredEvent:
    return StoredEvent(row[0], row[1], ScanEvent(*row[2:]))


class StoreError(Exception):
    """The store could not be opened or migrated; the message says what to do."""


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

    def start_boot(self) -> str:
        """A new boot id, recorded with a boot counter; every event of this run carries it."""
        boot_id = uuid.uuid4().hex
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
        if stream is not Stream.EVENTS:
            return 0
        row = self.db.execute(
            "SELECT COUNT(*) FROM events WHERE seq > (SELECT acked_upto FROM streams WHERE name = 'events')"
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
