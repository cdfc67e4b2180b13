"""Images end to end through a real mosquitto: a terminal with a backlog of scan events, two incidents (one with a
photo) and a 1.5 MB snapshot; the broker is stopped in the middle of the snapshot's transfer and started again. The
hub ends with every record once and both images whole and hash-checked; the transfer resumed (the bytes sent again
are a small part of the image), and every scan event was on the wire before the first image chunk."""

from __future__ import annotations

import hashlib
import os
import queue
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from device.store import DeviceStore, IncidentDraft, SnapshotMeta, open_database
from hub.storage import media
from hub.storage.ingest import stream_progress
from protocol import topics
from protocol.media import is_chunk, parse_chunk
from protocol.topics import Stream
from tests.integration.rig import HUB_PASSWORD, HUB_USER, Children, InProcessHub, Site, Terminal, exactly_once, wait_for
from tests.services.mosquitto import MqttProbe

DEVICE = "handheld-07"
EVENTS = 600
CHUNK = 64 * 1024
PHOTO = b"\xff\xd8\xff\xe0" + os.urandom(300 * 1024)
SNAPSHOT = b"\xff\xd8\xff\xe0" + os.urandom(1536 * 1024)
SYNC = {"batch_records": 50, "window": 2, "ack_timeout_s": 3.0, "rate_messages_s": 100.0,
        "rate_bytes_s": 384 * 1024, "image_chunk_bytes": CHUNK, "image_window_bytes": 4 * CHUNK}  # fmt: skip
"""A rate cap that makes the snapshot take a few seconds, so the broker can be stopped in the middle of it."""
T0 = time.time() - 3600


@pytest.fixture
def hub(site: Site) -> Iterator[InProcessHub]:
    worker = InProcessHub(site).start()
    try:
        yield worker
    finally:
        worker.stop()


@pytest.fixture
def terminal(site: Site, children: Children, tmp_path: Path) -> Terminal:
    """An enrolled terminal (not started) whose store holds the backlog: events, incidents, a snapshot."""
    made = Terminal(site, site.enrol(DEVICE), tmp_path / "terminals", children, SYNC)
    made.prefill(EVENTS)
    store = DeviceStore(open_database(made.database))
    try:
        assert store.add_incident(IncidentDraft(T0, "ntp", "blocked_exit", "exit chained", 31.2, 121.5, 6.0, "PD-3"),
                                  [PHOTO]) == 1  # fmt: skip
        assert store.add_incident(IncidentDraft(T0 + 1, "ntp", "crowding", "queue past the gate"), []) == 1 + 1
        assert store.add_snapshot(SnapshotMeta(T0 + 2, "ntp", "gate-1", "motion", 1920, 1080), SNAPSHOT) == 1
    finally:
        store.db.close()
    return made


class Tap:
    """A plain subscriber (the hub user) to the terminal's up topics: the order things left the terminal."""

    def __init__(self, site: Site) -> None:
        self.probe = MqttProbe(site.broker, HUB_USER, HUB_PASSWORD, client_id="image-tap").connected()
        for stream in Stream:
            assert not self.probe.subscribe(topics.up(DEVICE, stream)).is_failure
        self.seen: list[str] = []

    def collect(self) -> list[str]:
        while True:
            try:
                message = self.probe.messages.get_nowait()
            except queue.Empty:
                return self.seen
            payload = bytes(message.payload)
            stream = topics.parse(message.topic).stream
            assert stream is not None
            self.seen.append(f"chunk:{parse_chunk(payload).sha256[:8]}" if is_chunk(payload) else stream.value)


def snapshot_have(site: Site) -> int:
    return media.image_progress(site.engine, DEVICE, hashlib.sha256(SNAPSHOT).hexdigest()).have


def test_an_image_cut_by_a_broker_restart_resumes_and_arrives_once_hash_checked(
    site: Site, hub: InProcessHub, terminal: Terminal
) -> None:
    tap = Tap(site)
    try:
        terminal.start()
        wait_for(lambda: snapshot_have(site) >= len(SNAPSHOT) // 3, f"a third of the snapshot held\n{terminal.log()}")
        order = tap.collect()
    finally:
        tap.probe.close()
    site.broker.stop()  # the cut, in the middle of the snapshot
    at_cut = snapshot_have(site)
    site.broker.start()
    total = len(PHOTO) + len(SNAPSHOT)
    wait_for(lambda: media.media_counts(site.engine).images_complete == 2, f"both images complete\n{terminal.log()}")
    wait_for(lambda: terminal_done(terminal), f"the terminal heard every ack and completion\n{terminal.log()}")
    terminal.stop()

    # Every record once, both images whole.
    exactly_once(site.engine, DEVICE, EVENTS)
    for stream, count in ((Stream.INCIDENTS, 2), (Stream.SNAPSHOTS, 1)):
        state = stream_progress(site.engine, DEVICE, stream)
        assert (state.contiguous_upto, state.max_seq) == (count, count)
    counts = media.media_counts(site.engine)
    assert (counts.incidents, counts.snapshots, counts.images, counts.images_complete) == (2, 1, 2, 2)
    assert counts.image_restarts == 0
    assert media.get_image(site.engine, hashlib.sha256(SNAPSHOT).hexdigest()) == SNAPSHOT
    assert media.get_image(site.engine, hashlib.sha256(PHOTO).hexdigest()) == PHOTO
    [incident, _] = sorted(media.list_incidents(site.engine, device=DEVICE), key=lambda i: i.seq)
    assert [p.complete for p in incident.photos] == [True]
    assert hub.ingest.refusals == {}

    # Resumed, not restarted: what was sent again is a small part of the whole.
    assert 0 < at_cut < len(SNAPSHOT)
    resent_at_hub = hub.ingest.image_bytes_received - total
    sent = [int(m) for m in re.findall(r"images this run: \d+ chunks, (\d+) bytes sent", terminal.log())]
    resent_by_terminal = sum(sent) - total
    assert 0 <= resent_at_hub < len(SNAPSHOT) // 4
    assert 0 <= resent_by_terminal < len(SNAPSHOT) // 4

    # Every scan event batch left before the first image chunk; incidents before the snapshot's record.
    first_chunk = next(i for i, kind in enumerate(order) if kind.startswith("chunk"))
    assert order.count("events") == EVENTS // 50
    assert max(i for i, kind in enumerate(order) if kind == "events") < first_chunk
    assert order.index("incidents") < order.index("snapshots") < first_chunk
    print(f"cut at {at_cut} of {len(SNAPSHOT)} snapshot bytes; re-sent {resent_at_hub} bytes seen at the hub, "
          f"{resent_by_terminal} by the terminal's count")  # fmt: skip


def terminal_done(terminal: Terminal) -> bool:
    store = DeviceStore(open_database(terminal.database))
    try:
        return store.image_backlog() == (0, 0) and all(store.backlog(stream) == 0 for stream in Stream)
    finally:
        store.db.close()
