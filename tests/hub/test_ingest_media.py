"""The hub worker with incidents, snapshots and image chunks, wired straight to a terminal's outbox (no broker):
signed records verified and stored once, chunks answered with progress, the whole image checked, a corrupted
transfer started over, refusals counted with a reason."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric import ed25519
from sqlite_utils import Database

from device.store import DeviceStore, IncidentDraft, ScanEvent, SnapshotMeta
from device.sync.outbox import Outbox, OutboxSettings
from hub.ingest import FloodGuard, Ingest
from hub.storage import media
from hub.storage.devices import enrol
from hub.storage.engine import create_engine
from hub.storage.ingest import refusal_counts
from hub.storage.migrate import upgrade
from protocol import topics
from protocol.codec import cbor_dumps
from protocol.keys import spki_der
from protocol.media import Chunk, encode_chunk, is_chunk, parse_chunk, parse_progress
from protocol.messages import parse_ack
from protocol.topics import Down, Stream

DEVICE = "hand-01"
KEY = ed25519.Ed25519PrivateKey.generate()
PHOTO = b"\xff\xd8\xff" + bytes((i * 13) % 256 for i in range(300_000))
SNAP = b"\x89PNG\r\n\x1a\n" + bytes((i * 5) % 256 for i in range(120_000))
T0 = 1_800_000_000.0


@dataclass
class Loop:
    """A terminal's outbox and a hub worker passing messages to each other in memory."""

    engine: sa.Engine
    store: DeviceStore
    ingest: Ingest
    outbox: Outbox
    to_hub: list[tuple[str, bytes]] = field(default_factory=list)
    to_device: list[tuple[str, bytes]] = field(default_factory=list)
    tamper: bool = False

    def run(self, rounds: int = 200) -> None:
        now = 1.0
        for _ in range(rounds):
            now += 0.1
            self.outbox.pump(now)
            if not self.to_hub and not self.to_device:
                return
            while self.to_hub:
                topic, data = self.to_hub.pop(0)
                if self.tamper and is_chunk(data):
                    chunk = parse_chunk(data)
                    flipped = bytes([chunk.data[0] ^ 1]) + chunk.data[1:]
                    data = encode_chunk(Chunk(chunk.sha256, chunk.size, chunk.offset, flipped))
                    self.tamper = False
                self.ingest.handle(topic, data)
            while self.to_device:
                topic, data = self.to_device.pop(0)
                parsed = topics.parse(topic)
                if parsed.down is Down.ACK:
                    self.outbox.on_ack(parse_ack(data))
                elif parsed.down is Down.MEDIA:
                    self.outbox.on_progress(parse_progress(data), now)
        pytest.fail("the exchange did not settle")


@pytest.fixture
def loop(tmp_path: object) -> Iterator[Loop]:
    engine = create_engine("sqlite://")
    upgrade(engine)
    enrol(engine, DEVICE, spki_der(KEY.public_key()), profile="handheld", now=T0)
    store = DeviceStore(Database(memory=True))
    store.start_boot()
    to_hub: list[tuple[str, bytes]] = []
    to_device: list[tuple[str, bytes]] = []

    def queue(into: list[tuple[str, bytes]]) -> Callable[[str, bytes], bool]:
        def publish(topic: str, data: bytes) -> bool:
            into.append((topic, data))
            return True

        return publish

    ingest = Ingest(engine, queue(to_device), clock=lambda: T0 + 10,
                    monotonic=lambda: 0.0, image_flood=FloodGuard(10**9))  # fmt: skip
    settings = OutboxSettings(rate_messages_s=10**6, rate_bytes_s=10**9, image_chunk_bytes=32 * 1024)
    outbox = Outbox(store, queue(to_hub), device_id=DEVICE, device_key=KEY,
                    boot=bytes(16), settings=settings, now=0.0)  # fmt: skip
    yield Loop(engine, store, ingest, outbox, to_hub, to_device)
    engine.dispose()


def test_incidents_snapshots_and_their_images_arrive_once_hash_checked(loop: Loop) -> None:
    boot = loop.store.get_meta("boot_id") or ""
    loop.store.record_event(boot, ScanEvent(at=T0, time_source="ntp", decision="pass", reason="ok"))
    loop.store.add_incident(IncidentDraft(T0, "hub", "blocked_exit", "chained", 30.2, 120.1, 5.0, "HZ-1"), [PHOTO])
    loop.store.add_snapshot(SnapshotMeta(T0, "ntp", "gate-1", "motion", 640, 480), SNAP)
    loop.run()
    assert media.get_image(loop.engine, hashlib.sha256(PHOTO).hexdigest()) == PHOTO
    assert media.get_image(loop.engine, hashlib.sha256(SNAP).hexdigest()) == SNAP
    counts = media.media_counts(loop.engine)
    assert (counts.incidents, counts.snapshots, counts.images_complete) == (1, 1, 2)
    assert loop.store.pending_images() == []
    assert loop.store.image_backlog() == (0, 0)
    assert loop.outbox.images.bytes == len(PHOTO) + len(SNAP)  # each byte sent once
    assert loop.ingest.images_completed == 2
    assert [b for b in Stream if loop.store.backlog(b)] == []


def test_a_transfer_corrupted_on_the_way_starts_over_and_then_completes(loop: Loop) -> None:
    loop.store.add_snapshot(SnapshotMeta(T0, "ntp", "gate-1", "command", 640, 480), SNAP)
    loop.tamper = True
    loop.run()
    assert media.get_image(loop.engine, hashlib.sha256(SNAP).hexdigest()) == SNAP
    assert loop.outbox.images.restarted == 1
    assert loop.outbox.images.bytes == 2 * len(SNAP)
    assert loop.ingest.refusals["bad_hash"] == 1


def test_bad_media_messages_are_refused_with_a_reason(loop: Loop) -> None:
    up_snapshots = topics.up(DEVICE, Stream.SNAPSHOTS)
    loop.ingest.handle(up_snapshots, cbor_dumps({"v": 1, "t": "chunk"}))
    loop.ingest.handle(topics.up(DEVICE, Stream.EVENTS), encode_chunk(Chunk("00" * 32, 10, 0, bytes(10))))
    loop.ingest.handle(up_snapshots, encode_chunk(Chunk("00" * 32, 10, 0, bytes(10))))
    assert loop.ingest.refusals == {"bad_chunk": 1, "wrong_topic": 1, "unknown_image": 1}
    answer = parse_progress(loop.to_device[-1][1])
    assert (answer.sha256, answer.status.value) == ("00" * 32, "unknown")
    assert {r.reason for r in refusal_counts(loop.engine)} == {"bad_chunk", "wrong_topic", "unknown_image"}


def test_an_image_flood_is_refused_past_the_devices_byte_budget(loop: Loop) -> None:
    loop.ingest.image_flood = FloodGuard(100_000)
    loop.store.add_snapshot(SnapshotMeta(T0, "ntp", "gate-1", "command", 640, 480), SNAP)
    loop.outbox.pump(1.0)
    for topic, data in loop.to_hub:
        loop.ingest.handle(topic, data)
    loop.to_hub.clear()
    for to, data in loop.to_device:
        if topics.parse(to).down is Down.ACK:
            loop.outbox.on_ack(parse_ack(data))
    loop.outbox.pump(2.0)
    for topic, data in loop.to_hub:
        loop.ingest.handle(topic, data)
    assert loop.ingest.refusals["image_flood"] >= 1
