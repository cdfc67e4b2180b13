"""The outbox with incidents, snapshots and images: priority (events, incidents, snapshots, then chunks), chunks only
after their record is acknowledged, the window, resume from the hub's progress, start over on ``restart``, forget
only on ``complete``, and a fresh scan event never queued behind more than one chunk."""

from __future__ import annotations

import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from sqlite_utils import Database

from device.store import DeviceStore, IncidentDraft, ScanEvent, SnapshotMeta
from device.sync import outbox as outbox_module
from device.sync.outbox import Outbox, OutboxSettings
from protocol.envelope import open_batch
from protocol.media import Chunk, ImageStatus, Progress, is_chunk, parse_chunk
from protocol.messages import Ack
from protocol.topics import Stream, parse

KEY = ed25519.Ed25519PrivateKey.generate()
DEVICE = "hand-01"
CHUNK = 4096
IMAGE = b"\xff\xd8\xff" + bytes(i % 251 for i in range(10 * CHUNK + 100 - 3))
SHA = hashlib.sha256(IMAGE).hexdigest()


class Wire:
    def __init__(self) -> None:
        self.up = True
        self.settled = True
        self.sent: list[tuple[str, bytes]] = []

    def publish(self, topic: str, data: bytes) -> bool:
        if not self.up:
            return False
        self.sent.append((topic, data))
        return True

    def kinds(self) -> list[str]:
        """One word per message: the stream of a batch, or ``chunk@offset``."""
        out = []
        for topic, data in self.sent:
            if is_chunk(data):
                out.append(f"chunk@{parse_chunk(data).offset}")
            else:
                stream = parse(topic).stream
                assert stream is not None
                out.append(open_batch(data, KEY.public_key(), device=DEVICE, stream=stream).stream.value)
        return out

    def chunks(self) -> list[Chunk]:
        return [parse_chunk(data) for _, data in self.sent if is_chunk(data)]


def make(**settings: float) -> tuple[Outbox, DeviceStore, Wire]:
    store = DeviceStore(Database(memory=True))
    boot = store.start_boot()
    store.record_event(boot, ScanEvent(at=1.8e9, time_source="ntp", decision="pass", reason="ok"))
    store.add_incident(IncidentDraft(at=1.8e9, time_source="ntp", category="fire", note="smoke"), [])
    store.add_snapshot(SnapshotMeta(1.8e9, "ntp", "gate-1", "motion", 640, 480), IMAGE)
    wire = Wire()
    values = {"window": 2, "rate_messages_s": 1000.0, "rate_bytes_s": 10**9, "image_chunk_bytes": CHUNK,
              "image_window_bytes": 3 * CHUNK, **settings}  # fmt: skip
    outbox = Outbox(store, wire.publish, device_id=DEVICE, device_key=KEY, boot=bytes(16),
                    settings=OutboxSettings(**values), now=0.0, settled=lambda: wire.settled)  # type: ignore[arg-type]  # fmt: skip
    return outbox, store, wire


def ack_records(outbox: Outbox) -> None:
    for stream in Stream:
        outbox.on_ack(Ack(stream, 1))


def test_records_go_by_priority_and_chunks_only_after_the_record_is_acked() -> None:
    outbox, _store, wire = make()
    outbox.pump(1.0)
    assert wire.kinds() == ["events", "incidents", "snapshots"]  # no chunk: the hub does not know the image yet
    ack_records(outbox)
    outbox.pump(2.0)
    assert wire.kinds()[3:] == ["chunk@0", f"chunk@{CHUNK}", f"chunk@{2 * CHUNK}"]  # the window: 3 chunks
    chunk = wire.chunks()[0]
    assert (chunk.sha256, chunk.size, chunk.data) == (SHA, len(IMAGE), IMAGE[:CHUNK])


def test_a_record_backlog_drains_before_any_chunk() -> None:
    outbox, store, wire = make(batch_records=5)
    boot = store.get_meta("boot_id") or ""
    for i in range(40):
        store.record_event(boot, ScanEvent(at=1.8e9 + i, time_source="ntp", decision="pass", reason="ok"))
    ack_records(outbox)  # the snapshot's record is acknowledged: its image could go
    for step in range(20):
        outbox.pump(2.0 + step)
        outbox.on_ack(Ack(Stream.EVENTS, 1 + 5 * 2 * (step + 1)))
    kinds = wire.kinds()
    assert kinds.count("events") == 8  # events 2..41 (1 was acknowledged) in batches of 5
    last_events = max(i for i, kind in enumerate(kinds) if kind == "events")
    first_chunk = min(i for i, kind in enumerate(kinds) if kind.startswith("chunk"))
    assert last_events < first_chunk


def test_progress_opens_the_window_and_complete_lets_the_store_forget() -> None:
    outbox, store, wire = make()
    ack_records(outbox)
    outbox.pump(1.0)
    received = b""
    for _ in range(20):
        for chunk in wire.chunks():
            if chunk.offset == len(received):
                received += chunk.data
        wire.sent.clear()
        status = ImageStatus.COMPLETE if len(received) == len(IMAGE) else ImageStatus.PARTIAL
        outbox.on_progress(Progress(SHA, len(received), status), 2.0)
        if status is ImageStatus.COMPLETE:
            break
        outbox.pump(2.0)
    assert received == IMAGE
    assert store.pending_images() == []
    assert outbox.images.completed == 1
    outbox.pump(3.0)
    assert wire.sent == []


def test_a_reconnect_resumes_from_what_the_hub_holds_not_from_zero() -> None:
    outbox, _store, wire = make()
    ack_records(outbox)
    outbox.pump(1.0)
    outbox.on_progress(Progress(SHA, 2 * CHUNK, ImageStatus.PARTIAL), 1.5)
    outbox.pump(1.6)
    wire.sent.clear()
    outbox.reset()  # the connection dropped; chunks 2..4 may be lost
    outbox.pump(2.0)
    assert [c.offset for c in wire.chunks()] == [2 * CHUNK, 3 * CHUNK, 4 * CHUNK]
    assert outbox.images.resumed == 1


def test_a_hub_that_holds_more_moves_sending_forward() -> None:
    outbox, _store, wire = make()
    ack_records(outbox)
    outbox.pump(1.0)
    wire.sent.clear()
    outbox.on_progress(Progress(SHA, 7 * CHUNK, ImageStatus.PARTIAL), 1.5)  # e.g. after this terminal restarted
    outbox.pump(2.0)
    assert [c.offset for c in wire.chunks()] == [7 * CHUNK, 8 * CHUNK, 9 * CHUNK]


def test_a_terminal_restart_resumes_from_the_stored_progress(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(outbox_module, "PROGRESS_PERSIST_BYTES", 2 * CHUNK)
    outbox, store, wire = make()
    ack_records(outbox)
    outbox.pump(1.0)
    outbox.on_progress(Progress(SHA, CHUNK, ImageStatus.PARTIAL), 1.4)  # not written yet: under the threshold
    assert store.pending_images()[0].hub_has == 0
    outbox.on_progress(Progress(SHA, 3 * CHUNK, ImageStatus.PARTIAL), 1.5)
    assert store.pending_images()[0].hub_has == 3 * CHUNK
    outbox.on_progress(Progress(SHA, 4 * CHUNK, ImageStatus.PARTIAL), 1.6)  # lost in the power cut
    again = Outbox(store, wire.publish, device_id=DEVICE, device_key=KEY, boot=bytes(16),
                   settings=outbox.settings, now=2.0)  # fmt: skip
    wire.sent.clear()
    again.pump(2.0)
    assert wire.chunks()[0].offset == 3 * CHUNK
    again.on_progress(Progress(SHA, 4 * CHUNK, ImageStatus.PARTIAL), 2.1)  # the hub's answer moves it forward
    wire.sent.clear()
    again.pump(2.2)
    assert [c.offset for c in wire.chunks()] == [6 * CHUNK]  # the window: 3 chunks past the 4 held


def test_restart_sends_the_whole_again_and_unknown_waits() -> None:
    outbox, store, wire = make()
    ack_records(outbox)
    outbox.pump(1.0)
    outbox.on_progress(Progress(SHA, 3 * CHUNK, ImageStatus.PARTIAL), 1.1)
    outbox.on_progress(Progress(SHA, 0, ImageStatus.RESTART), 1.2)
    wire.sent.clear()
    outbox.pump(1.3)
    assert [c.offset for c in wire.chunks()] == [0, CHUNK, 2 * CHUNK]
    assert store.pending_images()[0].hub_has == 0
    outbox.on_progress(Progress(SHA, 0, ImageStatus.UNKNOWN), 1.4)
    wire.sent.clear()
    outbox.pump(1.5)
    assert wire.sent == []  # tried again later
    outbox.pump(1.5 + 61)
    assert wire.chunks()[0].offset == 0


def test_no_progress_for_too_long_sends_again_from_the_confirmed_bytes() -> None:
    outbox, _store, wire = make(ack_timeout_s=5.0)
    ack_records(outbox)
    outbox.pump(1.0)
    outbox.on_progress(Progress(SHA, CHUNK, ImageStatus.PARTIAL), 1.0)
    outbox.pump(1.0)
    wire.sent.clear()
    outbox.pump(3.0)
    assert wire.sent == []
    outbox.pump(7.0)
    assert wire.chunks()[0].offset == CHUNK


def test_a_chunk_waits_for_the_previous_message_to_leave_but_events_do_not() -> None:
    outbox, store, wire = make()
    ack_records(outbox)
    wire.settled = False
    outbox.pump(1.0)
    assert wire.sent == []
    store.record_event(store.get_meta("boot_id") or "", ScanEvent(at=1.8e9, time_source="ntp", decision="deny",
                                                                  reason="revoked"))  # fmt: skip
    outbox.pump(1.1)
    assert wire.kinds() == ["events"]


def test_a_fresh_scan_event_waits_at_most_one_chunk_behind_an_image_backlog() -> None:
    outbox, store, wire = make(image_window_bytes=8 * CHUNK)
    ack_records(outbox)
    boot = store.get_meta("boot_id") or ""
    unsettled = 0
    ahead_of_events: list[int] = []

    def publish(topic: str, data: bytes) -> bool:
        nonlocal unsettled
        if is_chunk(data):
            unsettled += 1
        elif parse(topic).stream is Stream.EVENTS:
            ahead_of_events.append(unsettled)  # chunks still in the link when this event is handed to it
        return wire.publish(topic, data)

    outbox.publish = publish
    outbox.settled = lambda: unsettled == 0
    held = 0
    for step in range(12):
        store.record_event(boot, ScanEvent(at=1.8e9 + step, time_source="ntp", decision="pass", reason="ok"))
        outbox.pump(2.0 + step)
        outbox.on_ack(Ack(Stream.EVENTS, step + 2))
        if step % 3 != 2:  # the broker's PUBACK arrives only now and then: chunks stay in the link across rounds
            unsettled = 0
        held = min(len(IMAGE), held + CHUNK)
        outbox.on_progress(Progress(SHA, held, ImageStatus.PARTIAL), 2.0 + step)
    assert len(ahead_of_events) == 12
    assert max(ahead_of_events) == 1  # never more than one chunk ahead of a fresh event
    assert outbox.images.chunks >= 8


def test_the_byte_rate_cap_meters_chunks() -> None:
    outbox, _store, wire = make(rate_bytes_s=2.5 * CHUNK)
    ack_records(outbox)
    wire.sent.clear()
    outbox.pump(10.0)  # a full bucket: 2.5 chunks' worth of bytes
    assert len(wire.chunks()) == 2
