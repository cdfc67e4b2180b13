"""The terminal's revocation list on its SD card: 10,000,000 rids in 160 MB, a few MB of RAM, microsecond lookups.

Layout of the store's directory (one list)::

    manifest.json           the version held: a base file and the segments applied on top (see manifest.py);
                            replacing it (temp file, fsync, rename, fsync dir) is the one commit point
    base-SEQ-TOKEN.rids     every rid of version SEQ, sorted, with a bucket table (see ridfile.py)
    seg-SEQ-TOKEN.rids      one applied delta: its add and del rids as signed
    .lock, .merge.lock      flock files: one writer at a time; one merge at a time

Why this design (measured on the development machine with 10M random rids; figures in the bench,
``python -m tests.bench.bench_revocation_store``):

* The base is the plain sorted array of 16-byte rids (160.5 MB at 10M, under the 200 MB target). The rids are
  SHA-256 prefixes, hence uniform, so instead of a sparse index searched by bisection (every 256th key: 2.2 MB
  of Python bytes, p50 3.6 us, p99 8 us) a bucket table on the top 13-20 bits gives each lookup its ~1 KiB slice
  of the file at once (0.5 MB of RAM at 10M; p50 2.5 us, p99 4.5 us with the page cache warm).
* Lookups ``pread`` that slice instead of touching an ``mmap``: mapped pages that lookups touch count in RSS
  (100k random lookups touch nearly every page, 160 MB), pages read with ``pread`` stay in the kernel's page cache.
  The store's own share of RSS is ~2 MB at 10M; Python, NumPy and the protocol's imports are the other ~46 MB.
  Opening checks the CRC of every rid, which also warms the page cache; a lookup that misses it costs one
  small SD read.
* A delta is written as a small segment file and committed by replacing the manifest: applying 10k entries
  writes ~160 KB and three fsyncs instead of rewriting 160 MB. In RAM the segments since the base are folded
  into two sorted arrays, ``adds`` (held, not in the base) and ``dels`` (in the base, not held), 16 bytes per
  rid, so a lookup is the base lookup plus one ``searchsorted``.
* Merging segments into a new base streams the old base chunk by chunk (bounded memory) on the terminal's
  background thread (:meth:`RevocationStore.merge_loop`); it commits only if no snapshot replaced the base
  meanwhile, and keeps the segments applied while it ran. A merge rewrites the whole base (160 MB at 10M: card
  wear, and twice the space for a moment), so it waits until ``MERGE_OVERLAY_ENTRIES`` or ``MERGE_SEGMENTS``.
  Past ``MAX_OVERLAY_ENTRIES`` or ``MAX_SEGMENTS_HELD`` an apply writes the new base itself, so memory stays
  bounded even if merges never run.
* Each version is an immutable :class:`RevocationVersion`; applying swaps one reference. A reader that takes
  :meth:`RevocationStore.view` answers every lookup of a scan from that one version; a base file replaced by a
  merge stays open until the last version using it is dropped.
* A crash or ``kill -9`` before the manifest rename leaves the old manifest, whose files are untouched (new data
  always goes to new file names); files no manifest names are removed by a later writer.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from device.lists.errors import StoreCorruptError, StoreError, StoreMissingError
from device.lists.files import file_lock, fsync_dir, write_atomic
from device.lists.manifest import (
    DATA_FILE,
    MANIFEST_NAME,
    BaseRef,
    Manifest,
    ManifestError,
    SegmentRef,
    read_manifest,
)
from device.lists.ridfile import (
    CHUNK_ENTRIES,
    BaseFile,
    BaseWriter,
    FileFormatError,
    Rids,
    read_segment,
    rids_of,
    write_segment,
)
from device.lists.version import RevocationVersion, advance
from protocol.revocation import RID_BYTES, RevocationUpdate, check_applicable

__all__ = ["RevocationStore", "RevocationVersion", "StoreCorruptError", "StoreError", "StoreMissingError"]

_log = logging.getLogger(__name__)

MERGE_OVERLAY_ENTRIES = 131_072
""":attr:`RevocationStore.needs_merge` from this many rids held in segments (2 MiB of RAM)..."""
MERGE_SEGMENTS = 32
"""...or this many segments."""
MAX_OVERLAY_ENTRIES = 262_144
"""An apply that would hold more rids in segments (4 MiB of RAM) writes a new base instead."""
MAX_SEGMENTS_HELD = 128
"""An apply that would make more segments writes a new base instead."""
MERGE_CHECK_S = 60.0
"""How often :meth:`RevocationStore.merge_loop` looks whether a merge is due."""
OPEN_ATTEMPTS = 3
"""A reader that finds a file gone because a writer just committed reads the new manifest, this many times."""
LOCK_NAME = ".lock"
MERGE_LOCK_NAME = ".merge.lock"


def _corrupt(directory: Path, problem: str) -> StoreCorruptError:
    return StoreCorruptError(
        f"revocation store {directory} is damaged ({problem}): its list cannot be used; remove the directory and "
        "apply a full snapshot (gridpass lists apply), or let the terminal fetch one"
    )


@contextmanager
def _reading(directory: Path) -> Iterator[None]:
    """Turn what can go wrong reading the store into :class:`StoreError` with what to do."""
    try:
        yield
    except (ManifestError, FileFormatError) as exc:
        raise _corrupt(directory, str(exc)) from exc
    except FileNotFoundError as exc:
        raise _corrupt(directory, f"{Path(exc.filename or '?').name} is missing") from exc
    except OSError as exc:
        raise StoreError(f"cannot read revocation store {directory}: {exc.strerror}") from exc


def _load(directory: Path, manifest: Manifest, *, verify: bool) -> RevocationVersion:
    ref = manifest.base
    with _reading(directory):
        base = BaseFile.open(directory / ref.file, count=ref.count, verify=verify)
        version = _replay(directory, RevocationVersion(manifest.list_id, ref.seq, ref.ts, base), manifest.segments)
    return replace(version, manifest=manifest)


def _replay(directory: Path, version: RevocationVersion, segments: Iterable[SegmentRef]) -> RevocationVersion:
    for seg in segments:
        add, delete = read_segment(directory / seg.file, adds=seg.adds, dels=seg.dels)
        adds, dels = advance(version, rids_of(add), rids_of(delete))
        version = replace(version, seq=seg.seq, ts=seg.ts, adds=adds, dels=dels)
    return version


class _StoppedError(Exception):
    """The merge was asked to stop."""


class RevocationStore:
    """One revocation list held on disk under the holder rules; lookups answer from one version at a time."""

    def __init__(self, directory: Path, version: RevocationVersion, *, verify: bool) -> None:
        self.directory = directory
        self._version = version
        self._verify = verify
        self._closed = False

    @classmethod
    def open(cls, directory: Path, list_id: str, *, create: bool = False, verify: bool = True) -> RevocationStore:
        """Open the store of ``list_id`` in ``directory``; ``create`` starts an empty one (version 0) if none is held.

        ``verify`` checks the CRC of every rid of the base (a sequential read of the file, ~0.1 s per 10M rids
        from the page cache) so that a card that returns damaged data is refused, not answered from.
        Raises :class:`StoreMissingError` (nothing held, ``create`` false), :class:`StoreCorruptError` or
        :class:`StoreError` (another list, unreadable); never returns an empty list in place of a damaged one.
        """
        for attempt in range(OPEN_ATTEMPTS):
            with _reading(directory):
                manifest = read_manifest(directory)
            if manifest is None:
                if not create:
                    raise StoreMissingError(
                        f"no revocation list is held in {directory}: apply a full snapshot first (gridpass lists apply)"
                    )
                return cls(directory, RevocationVersion(list_id, 0, 0, None), verify=verify)
            if manifest.list_id != list_id:
                raise StoreError(f"{directory} holds list {manifest.list_id}, not {list_id}: use another directory")
            try:
                return cls(directory, _load(directory, manifest, verify=verify), verify=verify)
            except StoreCorruptError:
                with _reading(directory):
                    if attempt + 1 == OPEN_ATTEMPTS or read_manifest(directory) == manifest:
                        raise
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    def held_list_id(directory: Path) -> str | None:
        """The id of the list held in ``directory``, None when it holds none yet."""
        with _reading(directory):
            manifest = read_manifest(directory)
        return manifest.list_id if manifest else None

    @property
    def list_id(self) -> str:
        """The list held."""
        return self._version.list_id

    @property
    def seq(self) -> int:
        """The version held (0: none yet)."""
        return self._version.seq

    @property
    def ts(self) -> int:
        """Issue time of the version held, for the staleness rule."""
        return self._version.ts

    def __len__(self) -> int:
        return len(self._version)

    def __contains__(self, rid: object) -> bool:
        if self._closed:
            raise StoreError("the revocation store is closed")
        return rid in self._version

    def view(self) -> RevocationVersion:
        """The current version, pinned: give it to one decision so that all of a scan's rids meet one version."""
        return self._version

    @property
    def needs_merge(self) -> bool:
        """Whether the segments should be folded into a new base (the background thread then calls merge)."""
        version = self._version
        segments = len(version.manifest.segments) if version.manifest else 0
        return segments >= MERGE_SEGMENTS or len(version.adds) + len(version.dels) >= MERGE_OVERLAY_ENTRIES

    def disk_bytes(self) -> int:
        """Bytes on disk of the version held (manifest, base and segments)."""
        manifest = self._version.manifest
        if manifest is None:
            return 0
        with _reading(self.directory):
            return sum((self.directory / name).stat().st_size for name in (MANIFEST_NAME, *manifest.files))

    def close(self) -> None:
        """Release the files; lookups fail afterwards."""
        self._closed = True
        if self._version.base is not None:
            self._version.base.close()

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """Hold the write lock, having caught up with any commit another process made; OS errors become StoreError."""
        if self._closed:
            raise StoreError("the revocation store is closed")
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            with file_lock(self.directory / LOCK_NAME):
                with _reading(self.directory):
                    on_disk = read_manifest(self.directory)
                if on_disk != self._version.manifest:
                    if on_disk is None:
                        raise _corrupt(self.directory, f"{MANIFEST_NAME} disappeared")
                    if on_disk.list_id != self.list_id:
                        raise StoreError(f"{self.directory} now holds list {on_disk.list_id}, not {self.list_id}")
                    self._version = _load(self.directory, on_disk, verify=self._verify)
                yield
        except OSError as exc:
            raise StoreError(
                f"cannot write revocation store {self.directory}: {exc.strerror}; kept the old version"
            ) from exc

    def apply(self, update: RevocationUpdate) -> RevocationVersion:
        """Apply a verified update under the holder rules (:func:`check_applicable`); refusals are DocumentError.

        The old version stays whole on disk and in memory until the new manifest is committed.
        """
        with self._writing():
            held = self._version
            check_applicable(update, list_id=held.list_id, held_seq=held.seq)
            self._remove_strays(held.manifest)
            if update.is_snapshot:
                step = CHUNK_ENTRIES * RID_BYTES
                chunks = (rids_of(update.add[i : i + step]) for i in range(0, len(update.add), step))
                base_ref, base = self._write_base(update.seq, update.ts, len(update.add) // RID_BYTES, chunks)
                version = RevocationVersion(held.list_id, update.seq, update.ts, base)
                manifest = Manifest(held.list_id, self._gen(held) + 1, base_ref)
            elif held.manifest is None:  # pragma: no cover - check_applicable lets only a snapshot onto version 0
                raise StoreError("a delta cannot apply to an empty store")
            else:
                adds, dels = advance(held, rids_of(update.add), rids_of(update.delete))
                version = replace(held, seq=update.seq, ts=update.ts, adds=adds, dels=dels)
                segments = held.manifest.segments
                if len(segments) + 1 > MAX_SEGMENTS_HELD or len(adds) + len(dels) > MAX_OVERLAY_ENTRIES:
                    _log.warning("list %s: segments past their bound, writing a new base inline", held.list_id)
                    base_ref, base = self._write_base(update.seq, update.ts, len(version), version.chunks())
                    version = RevocationVersion(held.list_id, update.seq, update.ts, base)
                    manifest = Manifest(held.list_id, self._gen(held) + 1, base_ref)
                else:
                    name = f"seg-{update.seq}-{os.urandom(4).hex()}.rids"
                    write_segment(self.directory / name, update.add, update.delete)
                    counts = len(update.add) // RID_BYTES, len(update.delete) // RID_BYTES
                    ref = SegmentRef(name, update.seq, update.base, update.ts, *counts)
                    manifest = Manifest(held.list_id, self._gen(held) + 1, held.manifest.base, (*segments, ref))
            self._commit(replace(version, manifest=manifest), held)
        return self._version

    def merge(self, stop: threading.Event | None = None) -> bool:
        """Fold the segments into a new base, off the lookup path; True when a new base was committed.

        Returns False at once when there is nothing to merge or another merge runs, and gives up (keeping the
        old version) when ``stop`` is set or a snapshot replaced the base while it ran.
        """
        if self._version.manifest is None:
            return False  # nothing held (and maybe no directory yet)
        with file_lock(self.directory / MERGE_LOCK_NAME, blocking=False) as taken:
            if not taken:
                return False
            with self._writing():
                snap = self._version
            if snap.manifest is None or not snap.manifest.segments:
                return False
            try:
                base_ref, base = self._write_base(snap.seq, snap.ts, len(snap), snap.chunks(), stop)
            except _StoppedError:
                return False
            except OSError as exc:
                raise StoreError(f"cannot write a merged base in {self.directory}: {exc.strerror}") from exc
            with self._writing():
                current = self._version
                if current.manifest is None or current.manifest.base != snap.manifest.base:
                    base.close()
                    (self.directory / base_ref.file).unlink(missing_ok=True)
                    return False
                later = tuple(s for s in current.manifest.segments if s.seq > snap.seq)
                with _reading(self.directory):
                    version = _replay(self.directory, RevocationVersion(snap.list_id, snap.seq, snap.ts, base), later)
                manifest = Manifest(snap.list_id, current.manifest.gen + 1, base_ref, later)
                self._commit(replace(version, manifest=manifest), current)
            _log.info("list %s: merged into a base of %d rids at version %d", snap.list_id, len(snap), snap.seq)
            return True

    def merge_loop(self, stop: threading.Event, interval_s: float = MERGE_CHECK_S) -> None:
        """The terminal's background merger: every ``interval_s`` merge if due, until ``stop`` is set."""
        while not stop.wait(interval_s):
            try:
                if self.needs_merge:
                    self.merge(stop)
            except Exception:  # noqa: BLE001 - top of a thread: log and try again next round
                _log.exception("merging revocation list %s failed; retrying in %s s", self.list_id, interval_s)

    @staticmethod
    def _gen(version: RevocationVersion) -> int:
        return version.manifest.gen if version.manifest else 0

    def _write_base(
        self, seq: int, ts: int, count: int, chunks: Iterable[Rids], stop: threading.Event | None = None
    ) -> tuple[BaseRef, BaseFile]:
        name = f"base-{seq}-{os.urandom(4).hex()}.rids"
        path = self.directory / name
        with BaseWriter(path, count) as writer:
            for chunk in chunks:
                if stop is not None and stop.is_set():
                    raise _StoppedError
                writer.write(chunk)
            writer.finish()
        return BaseRef(name, seq, ts, count), BaseFile.open(path, count=count, verify=False)

    def _commit(self, version: RevocationVersion, old: RevocationVersion) -> None:
        """Make ``version`` the one held: data files durable, then the manifest replaced (the commit point)."""
        if version.manifest is None:  # pragma: no cover - every caller builds one
            raise StoreError("nothing to commit")
        fsync_dir(self.directory)
        write_atomic(self.directory / MANIFEST_NAME, version.manifest.to_bytes())
        self._version = version
        for name in set(old.manifest.files if old.manifest else ()) - set(version.manifest.files):
            (self.directory / name).unlink(missing_ok=True)

    def _remove_strays(self, manifest: Manifest | None) -> None:
        """Remove data files no manifest names (left by a crash), unless a merge is writing one right now."""
        with file_lock(self.directory / MERGE_LOCK_NAME, blocking=False) as taken:
            if not taken:
                return
            keep = set(manifest.files if manifest else ())
            for path in self.directory.iterdir():
                if DATA_FILE.fullmatch(path.name) and path.name not in keep:
                    _log.info("removing %s, left by an interrupted write", path.name)
                    path.unlink(missing_ok=True)
