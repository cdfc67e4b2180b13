"""The terminal store's incidents, snapshots and images: one transaction with their seq, strict limits, chunks read
back exactly, and retention that forgets only what the hub acknowledged and confirmed."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlite_utils import Database

from device.store import (
    DeviceStore,
    ImageBudget,
    ImageFormatError,
    ImageTooLargeError,
    IncidentDraft,
    IncidentError,
    RetentionResult,
    SnapshotMeta,
    StoreFullError,
    open_database,
)
from protocol.records import MAX_IMAGE_BYTES, parse_incident_record, parse_snapshot_record
from protocol.topics import Stream

T0 = 1_800_000_000.0


def jpeg(n: int, tag: int = 0) -> bytes:
    """JPEG-looking bytes (the store checks the magic number, not the whole file)."""
    return b"\xff\xd8\xff\xe0" + bytes([tag % 256]) * (n - 4)


def meta(at: float = T0, trigger: str = "periodic") -> SnapshotMeta:
    return SnapshotMeta(at=at, time_source="ntp", camera="gate-1", trigger=trigger, width=640, height=480)


def draft(note: str = "exit chained", **extra: object) -> IncidentDraft:
    values: dict[str, object] = {"at": T0, "time_source": "hub", "category": "blocked_exit", "note": note,
                                 "lat": 30.25, "lon": 120.16, "accuracy_m": 5.0, "grid_cell": "HZ-0412",
                                 **extra}  # fmt: skip
    return IncidentDraft(**values)  # type: ignore[arg-type]


@pytest.fixture
def store() -> DeviceStore:
    db_store = DeviceStore(Database(memory=True))
    db_store.start_boot()
    return db_store


def test_each_stream_numbers_its_own_records_and_the_hub_would_accept_them(store: DeviceStore) -> None:
    assert [store.add_snapshot(meta(T0 + i), jpeg(2000, i)) for i in range(3)] == [1, 2, 3]
    assert store.add_incident(draft(), [jpeg(3000, 9), b"\x89PNG\r\n\x1a\n" + b"p" * 100]) == 1
    assert store.add_incident(draft(note=""), []) == 2
    snapshots = store.unacked_records(Stream.SNAPSHOTS)
    incidents = store.unacked_records(Stream.INCIDENTS)
    assert [seq for seq, _ in snapshots] == [1, 2, 3]
    record = parse_snapshot_record(snapshots[0][1])
    assert record.image.sha256 == hashlib.sha256(jpeg(2000, 0)).hexdigest()
    assert (record.image.width, record.image.height, record.image.content_type) == (640, 480, "image/jpeg")
    incident = parse_incident_record(incidents[0][1])
    assert [p.content_type for p in incident.photos] == ["image/jpeg", "image/png"]
    assert (incident.lat, incident.grid_cell) == (30.25, "HZ-0412")
    assert parse_incident_record(incidents[1][1]).photos == ()
    assert store.backlog(Stream.SNAPSHOTS) == 3
    assert store.backlog(Stream.INCIDENTS) == 2
    assert store.unacked_records(Stream.EVENTS) == []


def test_refused_input_consumes_no_seq_and_stores_nothing(store: DeviceStore) -> None:
    with pytest.raises(ImageTooLargeError):
        store.add_incident(draft(), [jpeg(MAX_IMAGE_BYTES + 1)])
    with pytest.raises(ImageFormatError):
        store.add_incident(draft(), [b"GIF89a...."])
    with pytest.raises(ImageFormatError):
        store.add_snapshot(meta(), b"")
    with pytest.raises(IncidentError):
        store.add_incident(draft(note="x" * 1001), [])
    with pytest.raises(IncidentError):
        store.add_incident(draft(category=""), [])
    with pytest.raises(IncidentError):
        store.add_incident(draft(lat=None), [])
    with pytest.raises(IncidentError):
        store.add_incident(draft(), [jpeg(2000, i) for i in range(9)])
    with pytest.raises(ImageTooLargeError):
        store.add_snapshot(meta(), jpeg(MAX_IMAGE_BYTES + 1))
    assert store.db.execute("SELECT COUNT(*) FROM images").fetchone()[0] == 0
    assert store.add_incident(draft(), [jpeg(2000)]) == 1
    assert store.add_snapshot(meta(trigger="decision"), jpeg(2000)) == 1


def test_the_same_photo_twice_is_kept_once(store: DeviceStore) -> None:
    seq = store.add_incident(draft(), [jpeg(2000), jpeg(2000)])
    assert len(parse_incident_record(store.unacked_records(Stream.INCIDENTS)[0][1]).photos) == 1
    assert seq == 1
    assert store.image_backlog() == (1, 2000)


def test_images_are_pending_only_after_their_record_is_acked_incident_photos_first(store: DeviceStore) -> None:
    store.add_snapshot(meta(), jpeg(5000, 1))
    store.add_incident(draft(), [jpeg(3000, 2)])
    assert store.pending_images() == []
    store.ack(Stream.SNAPSHOTS, 1)
    assert [p.stream for p in store.pending_images()] == [Stream.SNAPSHOTS]
    store.ack(Stream.INCIDENTS, 1)
    pending = store.pending_images()
    assert [(p.stream, p.seq, p.size, p.hub_has) for p in pending] == [
        (Stream.INCIDENTS, 1, 3000, 0),
        (Stream.SNAPSHOTS, 1, 5000, 0),
    ]


def test_chunks_read_back_exactly_and_progress_moves_forward_until_a_restart(store: DeviceStore) -> None:
    image = bytes(range(256)) * 40
    image = b"\xff\xd8\xff" + image[3:]
    store.add_snapshot(meta(), image)
    store.ack(Stream.SNAPSHOTS, 1)
    sha = hashlib.sha256(image).hexdigest()
    assert b"".join(store.image_chunk(sha, off, 1000) for off in range(0, len(image), 1000)) == image
    assert store.image_chunk(sha, len(image), 1000) == b""
    assert store.image_chunk("00" * 32, 0, 10) == b""
    store.set_image_progress(sha, 4000, complete=False)
    store.set_image_progress(sha, 2000, complete=False)  # a stale answer from another hub worker
    assert store.pending_images()[0].hub_has == 4000
    store.restart_image(sha)
    assert store.pending_images()[0].hub_has == 0
    store.set_image_progress(sha, len(image), complete=True)
    assert store.pending_images() == []
    assert store.image_backlog() == (0, 0)
    assert store.image_bytes(sha) == image  # kept until retention removes the snapshot


def _confirm_all(store: DeviceStore) -> None:
    store.ack(Stream.SNAPSHOTS, 10**6)
    store.ack(Stream.INCIDENTS, 10**6)
    for pending in store.pending_images(limit=100):
        store.set_image_progress(pending.sha256, pending.size, complete=True)


def test_retention_removes_only_acknowledged_and_confirmed_snapshots(store: DeviceStore) -> None:
    for i in range(6):
        store.add_snapshot(meta(T0 + i), jpeg(1000, i))
    budget = ImageBudget(max_bytes=10**9, max_count=2, max_age_s=10**9)
    result = store.prune_snapshots(budget, now=T0 + 10)
    assert (result.removed, result.pressure) == (0, True)  # nothing acknowledged: pressure, nothing lost
    store.ack(Stream.SNAPSHOTS, 4)
    assert store.prune_snapshots(budget, now=T0 + 10).removed == 0  # acked but not confirmed
    for pending in store.pending_images()[:3]:
        store.set_image_progress(pending.sha256, pending.size, complete=True)
    result = store.prune_snapshots(budget, now=T0 + 10)
    assert (result.removed, result.pressure) == (3, True)
    assert [seq for seq, _ in store.snapshots()] == [4, 5, 6]
    assert store.db.execute("SELECT COUNT(*) FROM images").fetchone()[0] == 3


def test_retention_by_age_and_bytes_keeps_images_an_incident_still_points_at(store: DeviceStore) -> None:
    shared = jpeg(4000, 7)
    store.add_snapshot(meta(T0), shared)
    store.add_incident(draft(), [shared])
    store.add_snapshot(meta(T0 + 100), jpeg(4000, 8))
    store.add_snapshot(meta(T0 + 200), jpeg(4000, 9))
    _confirm_all(store)
    assert store.prune_snapshots(ImageBudget(10**9, 100, max_age_s=150), now=T0 + 200).removed == 1
    assert store.image_bytes(hashlib.sha256(shared).hexdigest()) == shared  # the incident still needs it
    result = store.prune_snapshots(ImageBudget(max_bytes=100, max_count=100, max_age_s=10**9), now=T0 + 200)
    assert (result.removed, result.pressure) == (2, False)
    assert store.snapshots() == []


def test_incident_retention_keeps_anything_unacknowledged_or_with_an_unconfirmed_photo(store: DeviceStore) -> None:
    store.add_incident(draft(), [jpeg(3000, 1)])
    store.add_incident(draft(), [])
    store.add_incident(draft(), [jpeg(3000, 2)])
    budget = ImageBudget(max_bytes=10**9, max_count=0, max_age_s=10**9)
    assert store.prune_incidents(budget, now=T0) == RetentionResult(0, pressure=True)
    store.ack(Stream.INCIDENTS, 3)
    assert store.prune_incidents(budget, now=T0).removed == 1  # the one without photos
    pending = store.pending_images()
    store.set_image_progress(pending[0].sha256, pending[0].size, complete=True)
    assert store.prune_incidents(budget, now=T0) == RetentionResult(1, pressure=True)
    assert [seq for seq, _ in store.incidents()] == [3]
    assert store.image_backlog() == (1, 3000)
    assert store.db.execute("SELECT COUNT(*) FROM images").fetchone()[0] == 1


def test_a_full_disk_refuses_the_write_and_keeps_what_is_stored(tmp_path: Path) -> None:
    store = DeviceStore(open_database(tmp_path / "device.db"))
    store.start_boot()
    assert store.add_snapshot(meta(), jpeg(3000)) == 1
    pages = store.db.execute("PRAGMA page_count").fetchone()[0]
    store.db.execute(f"PRAGMA max_page_count = {pages}")
    with pytest.raises(StoreFullError):
        store.add_snapshot(meta(), jpeg(200_000, 1))
    with pytest.raises(StoreFullError):
        store.add_incident(draft(), [jpeg(200_000, 2)])
    assert store.unstored == 2
    assert [seq for seq, _ in store.snapshots()] == [1]
    store.db.execute("PRAGMA max_page_count = 1000000")
    assert store.add_snapshot(meta(), jpeg(200_000, 1)) == 2  # no seq was lost to the failed writes
    assert store.add_incident(draft(), []) == 1


@settings(max_examples=25, deadline=None)
@given(st.lists(st.sampled_from(["snap", "incident", "ack", "confirm", "prune"]), max_size=25))
def test_model_nothing_unconfirmed_is_ever_pruned(ops: list[str]) -> None:
    store = DeviceStore(Database(memory=True))
    store.start_boot()
    made: dict[int, str] = {}
    confirmed: set[str] = set()
    for index, op in enumerate(ops):
        if op == "snap":
            made[store.add_snapshot(meta(T0 + index), jpeg(1500, index))] = hashlib.sha256(
                jpeg(1500, index)
            ).hexdigest()
        elif op == "incident":
            store.add_incident(draft(), [jpeg(1500, 100 + index)])
        elif op == "ack":
            store.ack(Stream.SNAPSHOTS, max(made, default=0))
        elif op == "confirm" and (pending := store.pending_images()):
            store.set_image_progress(pending[0].sha256, pending[0].size, complete=True)
            confirmed.add(pending[0].sha256)
        elif op == "prune":
            store.prune_snapshots(ImageBudget(max_bytes=0, max_count=0, max_age_s=0), now=T0 + 1000)
    held = {seq: record.image.sha256 for seq, record in store.snapshots()}
    acked = store.acked_upto(Stream.SNAPSHOTS)
    for seq in set(made) - set(held):
        assert seq <= acked  # only acknowledged snapshots whose image the hub confirmed are gone
        assert made[seq] in confirmed
    for seq, sha in held.items():
        assert store.image_bytes(sha) is not None, seq
