"""Incidents, snapshots and images at the hub, on SQLite and PostgreSQL: records stored once with their images
announced, chunks in any order, the SHA-256 of the whole checked, progress durable across a restart, bad input
refused with a reason, and the queries the dashboard and the API read."""

from __future__ import annotations

import hashlib
import threading
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.engine import Engine

from hub.storage import media, relay
from hub.storage.engine import create_engine
from hub.storage.errors import InvalidValueError
from hub.storage.ingest import store_batch
from hub.storage.media import ChunkResult, get_image, image_progress, store_chunk
from hub.storage.migrate import alembic_config, upgrade
from hub.storage.models import ImageChunk, IncidentPhoto, RelayOutbox
from protocol.media import MIN_CHUNK_BYTES, Chunk, ImageStatus
from protocol.records import ImageRef, IncidentRecord, SnapshotRecord
from protocol.topics import Stream
from tests.hub.storage.support import DEVICE, T0, enrol

IMAGE = bytes((i * 7) % 256 for i in range(50_000))
SHA = hashlib.sha256(IMAGE).hexdigest()
PART = 8192


def snapshot(at: float = T0, image: bytes = IMAGE) -> SnapshotRecord:
    ref = ImageRef(hashlib.sha256(image).hexdigest(), len(image), "image/jpeg", 640, 480)
    return SnapshotRecord("ab" * 16, at, "ntp", "gate-1", "motion", ref)


def incident(at: float = T0, photos: tuple[bytes, ...] = (IMAGE,), note: str = "door chained") -> IncidentRecord:
    refs = tuple(ImageRef(hashlib.sha256(p).hexdigest(), len(p), "image/png") for p in photos)
    return IncidentRecord("ab" * 16, at, "hub", "blocked_exit", note, 30.25, 120.16, 4.0, "HZ-0412", refs)


def chunk(start: int, length: int = PART, data: bytes = IMAGE) -> Chunk:
    return Chunk(hashlib.sha256(data).hexdigest(), len(data), start, data[start : start + length])


def send_all(engine: Engine, data: bytes = IMAGE, part: int = PART) -> ChunkResult:
    result = None
    for start in range(0, len(data), part):
        result = store_chunk(engine, DEVICE, chunk(start, part, data), now=T0 + 5)
    assert result is not None
    return result


def count(engine: Engine, table: Any) -> int:  # noqa: ANN401 - a model class
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def test_incidents_are_stored_once_relayed_and_their_photos_announced(hub_engine: Engine) -> None:
    enrol(hub_engine)
    other = b"\x89PNG" + bytes(3000)
    result = store_batch(hub_engine, DEVICE, Stream.INCIDENTS, b"b1", [(1, incident(photos=(IMAGE, other)))], now=T0)
    assert (result.stored, result.contiguous_upto) == (1, 1)
    again = store_batch(hub_engine, DEVICE, Stream.INCIDENTS, b"b1", [(1, incident(photos=(IMAGE, other)))], now=T0)
    assert (again.stored, again.duplicates) == (0, 1)
    gap = store_batch(hub_engine, DEVICE, Stream.INCIDENTS, b"b3", [(3, incident(T0 + 3, ()))], now=T0)
    assert (gap.contiguous_upto, gap.missing) == (1, [(2, 2)])
    assert count(hub_engine, IncidentPhoto) == 2
    assert count(hub_engine, RelayOutbox) == 2  # relayed like events
    [listed_3, listed_1] = media.list_incidents(hub_engine)
    assert (listed_3.seq, listed_1.seq) == (3, 1)
    assert [p.sha256 for p in listed_1.photos] == [SHA, hashlib.sha256(other).hexdigest()]
    assert listed_1.photos[0] == media.ImageView(SHA, len(IMAGE), "image/png", 0, complete=False)
    assert (listed_1.category, listed_1.note, listed_1.lat, listed_1.grid_cell) == (
        "blocked_exit", "door chained", 30.25, "HZ-0412"
    )  # fmt: skip
    assert [i.seq for i in media.list_incidents(hub_engine, before=T0 + 3)] == [1]
    assert media.list_incidents(hub_engine, device="other-01") == []
    due = relay.due_relay_batches(hub_engine, limit=10, now=T0 + 1)
    assert [(item.stream, item.first_seq, item.cose) for item in due] == [(Stream.INCIDENTS, 1, b"b1"),
                                                                          (Stream.INCIDENTS, 3, b"b3")]  # fmt: skip


def test_snapshots_store_once_and_chunks_complete_the_image_after_the_hash_check(hub_engine: Engine) -> None:
    enrol(hub_engine)
    store_batch(hub_engine, DEVICE, Stream.SNAPSHOTS, b"s1", [(1, snapshot())], now=T0)
    assert get_image(hub_engine, SHA) is None
    first = store_chunk(hub_engine, DEVICE, chunk(0), now=T0)
    assert (first.progress.have, first.progress.status, first.refusal) == (PART, ImageStatus.PARTIAL, None)
    assert get_image(hub_engine, SHA) is None  # partial images are never served
    assert media.image_info(hub_engine, SHA) is None
    done = send_all(hub_engine)
    assert (done.progress.status, done.progress.have) == (ImageStatus.COMPLETE, len(IMAGE))
    assert get_image(hub_engine, SHA) == IMAGE
    info = media.image_info(hub_engine, SHA)
    assert info is not None
    assert (info.size, info.content_type, info.complete) == (len(IMAGE), "image/jpeg", True)
    again = store_chunk(hub_engine, DEVICE, chunk(0), now=T0)
    assert (again.progress.status, again.refusal) == (ImageStatus.COMPLETE, None)
    [view] = media.list_snapshots(hub_engine, device=DEVICE)
    assert (view.camera, view.trigger, view.width, view.image.complete) == ("gate-1", "motion", 640, True)
    counts = media.media_counts(hub_engine)
    assert (counts.snapshots, counts.images, counts.images_complete, counts.image_bytes_held) == (
        1, 1, 1, len(IMAGE))  # fmt: skip


def test_chunks_in_any_order_overlapping_or_repeated_make_the_same_image(hub_engine: Engine) -> None:
    enrol(hub_engine)
    store_batch(hub_engine, DEVICE, Stream.SNAPSHOTS, b"s1", [(1, snapshot())], now=T0)
    assert store_chunk(hub_engine, DEVICE, chunk(PART), now=T0).progress.have == 0  # ahead: kept, not contiguous
    assert store_chunk(hub_engine, DEVICE, chunk(PART), now=T0).progress.have == 0  # repeated
    assert store_chunk(hub_engine, DEVICE, chunk(0, 5000), now=T0).progress.have == 5000
    assert store_chunk(hub_engine, DEVICE, chunk(3000, 6000), now=T0).progress.have == 2 * PART  # overlap
    assert store_chunk(hub_engine, DEVICE, chunk(0, PART), now=T0).progress.have == 2 * PART  # all held already
    result = None
    for start in range(3 * PART, len(IMAGE), 7000):  # a resend with another chunk size
        result = store_chunk(hub_engine, DEVICE, chunk(start, 7000), now=T0)
    assert result is not None
    assert result.progress.status is ImageStatus.PARTIAL  # the hole at 2*PART..3*PART remains
    assert store_chunk(hub_engine, DEVICE, chunk(2 * PART), now=T0).progress.status is ImageStatus.COMPLETE
    assert get_image(hub_engine, SHA) == IMAGE


def test_a_wrong_whole_is_dropped_counted_and_sent_again(hub_engine: Engine) -> None:
    enrol(hub_engine)
    store_batch(hub_engine, DEVICE, Stream.SNAPSHOTS, b"s1", [(1, snapshot())], now=T0)
    corrupt = bytearray(IMAGE)
    corrupt[20_000] ^= 0xFF
    for start in range(0, len(IMAGE), PART):
        piece = bytes(corrupt[start : start + PART])
        result = store_chunk(hub_engine, DEVICE, Chunk(SHA, len(IMAGE), start, piece), now=T0)
    assert (result.progress.status, result.progress.have, result.refusal) == (ImageStatus.RESTART, 0, "bad_hash")
    assert count(hub_engine, ImageChunk) == 0
    assert get_image(hub_engine, SHA) is None
    assert send_all(hub_engine).progress.status is ImageStatus.COMPLETE
    assert get_image(hub_engine, SHA) == IMAGE
    assert media.media_counts(hub_engine).image_restarts == 1


def test_bad_chunks_are_refused_with_a_reason_and_nothing_held_is_lost(hub_engine: Engine) -> None:
    enrol(hub_engine)
    store_batch(hub_engine, DEVICE, Stream.SNAPSHOTS, b"s1", [(1, snapshot())], now=T0)
    store_chunk(hub_engine, DEVICE, chunk(0), now=T0)
    unknown = store_chunk(hub_engine, DEVICE, chunk(0, data=b"\xff" * 5000), now=T0)
    assert (unknown.progress.status, unknown.refusal) == (ImageStatus.UNKNOWN, "unknown_image")
    other_device = store_chunk(hub_engine, "cam-99", chunk(0), now=T0)
    assert other_device.refusal == "unknown_image"  # images are per device: no one else adds to this one
    wrong_size = store_chunk(hub_engine, DEVICE, Chunk(SHA, len(IMAGE) + 1, PART, IMAGE[PART : 2 * PART]), now=T0)
    assert (wrong_size.refusal, wrong_size.progress.have) == ("chunk_size_mismatch", PART)
    big = bytes(10 * 1024 * 1024)
    big_sha = hashlib.sha256(big[: 8 * 1024 * 1024]).hexdigest()
    store_batch(hub_engine, DEVICE, Stream.SNAPSHOTS, b"s2", [(2, snapshot(image=big[: 8 * 1024 * 1024]))], now=T0)
    ahead = store_chunk(hub_engine, DEVICE, Chunk(big_sha, 8 * 1024 * 1024, 5 * 1024 * 1024, bytes(PART)), now=T0)
    assert (ahead.refusal, ahead.progress.have) == ("chunk_ahead", 0)
    with pytest.raises(InvalidValueError, match="chunk refused"):
        store_chunk(hub_engine, DEVICE, Chunk(SHA, len(IMAGE), len(IMAGE) - 10, bytes(20)), now=T0)  # past the end
    assert image_progress(hub_engine, DEVICE, SHA).have == PART


def test_chunk_rows_per_image_are_bounded(hub_engine: Engine) -> None:
    enrol(hub_engine)
    small = bytes(range(256)) * 8  # 2 KiB: at most 2*2+16 rows
    store_batch(hub_engine, DEVICE, Stream.SNAPSHOTS, b"s1", [(1, snapshot(image=small))], now=T0)
    refusals = []
    for start in range(1, 40):  # many overlapping chunks at odd offsets past the held bytes
        length = min(MIN_CHUNK_BYTES, len(small) - start)
        refusals.append(store_chunk(hub_engine, DEVICE, chunk(start, length, small), now=T0).refusal)
    assert "too_many_chunks" in refusals  # the image starts over: the rows are dropped
    assert count(hub_engine, ImageChunk) <= media.max_chunk_rows(len(small))
    assert image_progress(hub_engine, DEVICE, hashlib.sha256(small).hexdigest()).have == 0
    assert send_all(hub_engine, small, MIN_CHUNK_BYTES).progress.status is ImageStatus.COMPLETE


def test_progress_survives_a_hub_restart(hub_db_url: str) -> None:
    engine = create_engine(hub_db_url)
    upgrade(engine)
    enrol(engine)
    store_batch(engine, DEVICE, Stream.SNAPSHOTS, b"s1", [(1, snapshot())], now=T0)
    for start in range(0, 3 * PART, PART):
        store_chunk(engine, DEVICE, chunk(start), now=T0)
    engine.dispose()
    again = create_engine(hub_db_url)
    try:
        assert image_progress(again, DEVICE, SHA).have == 3 * PART
        assert store_chunk(again, DEVICE, chunk(3 * PART), now=T0).progress.have == 4 * PART
    finally:
        again.dispose()


def test_queries_refuse_unbounded_limits(hub_engine: Engine) -> None:
    with pytest.raises(InvalidValueError):
        media.list_snapshots(hub_engine, limit=0)
    with pytest.raises(InvalidValueError):
        media.list_incidents(hub_engine, limit=media.MAX_LIST + 1)
    assert media.media_counts(hub_engine, device=DEVICE) == media.MediaCounts(0, 0, 0, 0, 0, 0)


def test_workers_storing_chunks_of_one_image_at_once_lose_nothing(pg_engine: Engine) -> None:
    enrol(pg_engine)
    store_batch(pg_engine, DEVICE, Stream.SNAPSHOTS, b"s1", [(1, snapshot())], now=T0)
    starts = list(range(0, len(IMAGE), 2048))
    results: list[ChunkResult] = []
    lock = threading.Lock()

    def worker(mine: list[int]) -> None:
        for start in mine:
            result = store_chunk(pg_engine, DEVICE, chunk(start, 2048), now=T0)
            with lock:
                results.append(result)

    threads = [threading.Thread(target=worker, args=(starts[i::4],)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    assert [r.refusal for r in results if r.refusal] == []
    assert sum(r.progress.status is ImageStatus.COMPLETE for r in results) >= 1
    assert get_image(pg_engine, SHA) == IMAGE


def test_migration_0002_downgrades_and_upgrades_again(hub_db_url: str) -> None:
    engine = create_engine(hub_db_url)
    try:
        upgrade(engine, "0002")
        media_tables = {"incidents", "incident_photos", "snapshots", "images", "image_chunks"}
        assert media_tables <= set(sa.inspect(engine).get_table_names())
        with engine.begin() as conn:
            config = alembic_config()
            config.attributes["connection"] = conn
            command.downgrade(config, "0001")
        assert not media_tables & set(sa.inspect(engine).get_table_names())
        upgrade(engine, "0002")
        enrol(engine)
        store_batch(engine, DEVICE, Stream.SNAPSHOTS, b"s1", [(1, snapshot())], now=T0)
        assert send_all(engine).progress.status is ImageStatus.COMPLETE
    finally:
        engine.dispose()
