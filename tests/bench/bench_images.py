"""Images: how fast snapshots travel from a terminal's store to the hub in chunks, next to raw paho on the same broker.

Run: ``python -m tests.bench.bench_images [--images N] [--size BYTES] [--chunks 16,64,128]`` (starts its own
mosquitto; writes only into a temporary directory). For each chunk size (KiB), one row, no figure asserted:

- ours: ``--images`` snapshots of ``--size`` bytes in a terminal's SQLite store, sent by the real ``Outbox`` over a
  real ``DeviceLink`` (signed snapshot records first, then the chunks, one chunk in the link at a time, the window of
  the terminal's default), stored by the real ``Ingest`` behind a real ``HubLink`` on a SQLite hub (chunks in the
  database, the SHA-256 of each whole checked), its progress answers sent back, until the terminal's store says
  every image is confirmed. The driver loop is the sync thread's (``SyncService.run``). The outbox's rate cap is set
  out of the way.
- reference: the same bytes published by a bare paho client at QoS 1 in chunks of the same size, as fast as paho
  takes them (its default 20 messages in flight), to a bare paho subscriber that only counts the bytes: the
  broker's and the loopback's own speed, with no store, no database and no answers.
"""

from __future__ import annotations

import argparse
import logging
import os
import queue
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import paho.mqtt.client as mqtt
from cryptography.hazmat.primitives.asymmetric import ed25519
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.reasoncodes import ReasonCode
from rich.console import Console
from rich.table import Table

from device.store import DeviceStore, SnapshotMeta, open_database
from device.sync.link import BrokerSettings, DeviceLink
from device.sync.outbox import Outbox, OutboxSettings
from device.sync.service import PUMP_S
from hub.broker.dynsec import DynSecAdmin
from hub.ingest import Ingest
from hub.mqtt.link import HubBrokerSettings, HubLink
from hub.storage.devices import enrol
from hub.storage.engine import create_engine
from hub.storage.media import media_counts
from hub.storage.migrate import upgrade
from protocol import topics
from protocol.keys import Alg, generate_private_key, spki_der
from protocol.media import parse_progress
from protocol.messages import DeviceState, StateMessage, parse_ack, seal_state
from protocol.topics import Stream
from tests.services.mosquitto import MosquittoBroker, start_broker

DEVICE = "bench-camera-01"
RAW_DEVICE = "bench-raw-01"
HUB_USER = "bench-hub"
DEVICE_PASSWORD = "bench-device-pass"
HUB_PASSWORD = "bench-hub-pass"
RATE_CAP_MESSAGES_S = 1_000_000.0
RATE_CAP_BYTES_S = 1e10
"""The outbox's rate cap: far above what this path reaches, so it never binds."""
WINDOW_CHUNKS = 4
"""Image bytes in flight beyond what the hub confirmed, in chunks (the terminal's default window is 4 x 64 KiB)."""
CONNECT_TIMEOUT_S = 15.0
RUN_TIMEOUT_S = 900.0
MIB = 1024 * 1024

Row = dict[str, float | str]


def _wait(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not happen within {timeout_s}s")
        time.sleep(0.01)


def _images(count: int, size: int) -> list[bytes]:
    return [b"\xff\xd8\xff\xe0" + os.urandom(size - 4) for _ in range(count)]


def _ours(
    broker: MosquittoBroker, directory: Path, images: list[bytes], chunk_bytes: int, key: ed25519.Ed25519PrivateKey
) -> Row:
    engine = create_engine(f"sqlite:///{directory / f'hub-{chunk_bytes}.db'}")
    upgrade(engine)
    enrol(engine, DEVICE, spki_der(key.public_key()), profile="camera", now=time.time())
    store = DeviceStore(open_database(directory / f"terminal-{chunk_bytes}.db"))
    boot = bytes.fromhex(store.start_boot())
    for i, image in enumerate(images):
        store.add_snapshot(SnapshotMeta(1.8e9 + i, "ntp", "gate-1", "periodic", 1920, 1080), image)

    holder: list[HubLink] = []
    ingest = Ingest(engine, lambda topic, data: bool(holder) and holder[0].publish(topic, data), clock=time.time,
                    monotonic=time.monotonic)  # fmt: skip
    hub_busy = [0.0]

    def handle(topic: str, payload: bytes) -> None:
        started = time.perf_counter()
        try:
            ingest.handle(topic, payload)
        finally:
            hub_busy[0] += time.perf_counter() - started

    hub = HubLink(HubBrokerSettings(broker.host, broker.port, HUB_USER, HUB_PASSWORD, client_id="bench-hub-1",
                                    share_group="ingest"), handle)  # fmt: skip
    holder.append(hub)

    def state(which: DeviceState) -> bytes:
        return seal_state(StateMessage(DEVICE, which, boot, time.time(), {}), key)

    inbox: queue.Queue[tuple[str, bytes]] = queue.Queue()
    connected = threading.Event()
    wake = threading.Event()

    def arrived(topic: str, payload: bytes) -> None:
        inbox.put((topic, payload))
        wake.set()

    link = DeviceLink(
        BrokerSettings(broker.host, broker.port, DEVICE, DEVICE_PASSWORD),
        will=state(DeviceState.OFFLINE), birth=lambda: state(DeviceState.ONLINE),
        stopped=lambda: state(DeviceState.STOPPED), subscriptions=topics.device_subscriptions(DEVICE, ()),
        on_message=arrived, on_connected=connected.set, on_published=wake.set,
    )  # fmt: skip
    window = WINDOW_CHUNKS * chunk_bytes
    settings = OutboxSettings(rate_messages_s=RATE_CAP_MESSAGES_S, rate_bytes_s=RATE_CAP_BYTES_S,
                              image_chunk_bytes=chunk_bytes, image_window_bytes=window)  # fmt: skip
    outbox = Outbox(store, link.publish, device_id=DEVICE, device_key=key, boot=boot, settings=settings,
                    now=time.monotonic(), settled=link.settled)  # fmt: skip
    try:
        hub.start()
        _wait(lambda: hub.connected, CONNECT_TIMEOUT_S, "the hub worker's connection")
        link.start()
        _wait(lambda: link.connected, CONNECT_TIMEOUT_S, "the terminal's connection")
        started = time.perf_counter()
        deadline = time.monotonic() + RUN_TIMEOUT_S
        busy = True
        device_busy = 0.0
        while True:  # the sync thread's loop (SyncService.run)
            if not busy:
                wake.wait(PUMP_S)
                wake.clear()
            mark = time.perf_counter()
            if connected.is_set():
                connected.clear()
                outbox.reset()
            handled = 0
            while True:
                try:
                    topic, payload = inbox.get_nowait()
                except queue.Empty:
                    break
                handled += 1
                down = topics.parse(topic).down
                if down is topics.Down.ACK:
                    outbox.on_ack(parse_ack(payload))
                elif down is topics.Down.MEDIA:
                    outbox.on_progress(parse_progress(payload), time.monotonic())
            if store.image_backlog() == (0, 0) and store.backlog(Stream.SNAPSHOTS) == 0:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"images not through in {RUN_TIMEOUT_S}s")
            busy = outbox.pump(time.monotonic()) > 0 or handled > 0
            device_busy += time.perf_counter() - mark
        elapsed = time.perf_counter() - started
        complete = media_counts(engine).images_complete
    finally:
        link.stop(clean=True)
        hub.stop()
        store.db.close()
        engine.dispose()
    total = sum(len(image) for image in images)
    return {"seconds": elapsed, "mb_s": total / MIB / elapsed, "complete": float(complete),
            "chunks": float(outbox.images.chunks), "sent_bytes": float(outbox.images.bytes),
            "refusals": float(sum(ingest.refusals.values())), "hub_busy_s": hub_busy[0],
            "device_busy_s": device_busy}  # fmt: skip


class _RawClient:
    """A bare paho client (MQTT 5, clean start) that waits for its CONNACK (and SUBACK)."""

    def __init__(self, broker: MosquittoBroker, username: str, password: str, client_id: str) -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                                  protocol=MQTTProtocolVersion.MQTTv5, reconnect_on_failure=False)  # fmt: skip
        self.client.username_pw_set(username, password)
        self._connack: queue.Queue[ReasonCode] = queue.Queue()
        self._subacks: queue.Queue[int] = queue.Queue()
        self.client.on_connect = lambda _c, _u, _f, rc, _p: self._connack.put(rc)
        self.client.on_subscribe = lambda _c, _u, mid, _codes, _p: self._subacks.put(mid)
        self.broker = broker

    def connect(self, subscription: str | None = None) -> None:
        self.client.connect(self.broker.host, self.broker.port, 30, clean_start=True)
        self.client.loop_start()
        if self._connack.get(timeout=CONNECT_TIMEOUT_S).is_failure:
            raise RuntimeError("the broker refused a raw client")
        if subscription is not None:
            result, _mid = self.client.subscribe(subscription, qos=1)
            if result != MQTTErrorCode.MQTT_ERR_SUCCESS:
                raise RuntimeError(f"subscribe failed: {result}")
            self._subacks.get(timeout=CONNECT_TIMEOUT_S)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _reference(broker: MosquittoBroker, images: list[bytes], chunk_bytes: int) -> Row:
    topic = topics.up(RAW_DEVICE, Stream.SNAPSHOTS)
    total = sum(len(image) for image in images)
    received = [0]
    done = threading.Event()

    def on_message(_client: mqtt.Client, _userdata: object, message: mqtt.MQTTMessage) -> None:
        received[0] += len(message.payload)
        if received[0] >= total:
            done.set()

    receiver = _RawClient(broker, HUB_USER, HUB_PASSWORD, "bench-raw-hub")
    sender = _RawClient(broker, RAW_DEVICE, DEVICE_PASSWORD, RAW_DEVICE)
    receiver.client.on_message = on_message
    try:
        receiver.connect(topic)
        sender.connect()
        started = time.perf_counter()
        infos = []
        for image in images:
            for offset in range(0, len(image), chunk_bytes):
                info = sender.client.publish(topic, image[offset : offset + chunk_bytes], qos=1)
                if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                    raise RuntimeError(f"raw publish failed: {info.rc}")
                infos.append(info)
        if not done.wait(RUN_TIMEOUT_S):
            raise TimeoutError("the raw subscriber did not receive every byte")
        elapsed = time.perf_counter() - started
        _wait(lambda: all(info.is_published() for info in infos), CONNECT_TIMEOUT_S, "every PUBACK")
    finally:
        sender.close()
        receiver.close()
    return {"seconds": elapsed, "mb_s": total / MIB / elapsed}


def _setup_broker(broker: MosquittoBroker) -> None:
    with DynSecAdmin(broker.host, broker.port, broker.admin_user, broker.admin_password) as admin:
        admin.ensure_all()
        admin.enrol_device(DEVICE, DEVICE_PASSWORD)
        admin.enrol_device(RAW_DEVICE, DEVICE_PASSWORD)
        admin.create_hub_user(HUB_USER, HUB_PASSWORD)


def main(argv: list[str] | None = None) -> list[Row]:
    """Run the benchmark; returns the rows it printed."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=8, help="Snapshots sent (default 8).")
    parser.add_argument("--size", type=int, default=2 * MIB, help="Bytes per snapshot (default 2 MiB).")
    parser.add_argument("--chunks", default="16,64,128", help="Chunk sizes in KiB, comma separated.")
    args = parser.parse_args(argv)
    chunk_sizes = [int(kib) * 1024 for kib in args.chunks.split(",")]
    images = _images(args.images, args.size)
    console = Console(width=160)
    rows: list[Row] = []
    with ExitStack() as stack:
        directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="gridpass-bench-images-")))
        broker = start_broker(directory / "mosquitto")
        stack.callback(broker.stop)
        _setup_broker(broker)
        key = generate_private_key(Alg.EDDSA)  # one terminal: its retained state stays valid from run to run
        assert isinstance(key, ed25519.Ed25519PrivateKey)
        for chunk_bytes in chunk_sizes:
            reference = _reference(broker, images, chunk_bytes)
            ours = _ours(broker, directory, images, chunk_bytes, key)
            rows.append({
                "chunk_kib": float(chunk_bytes // 1024),
                "ours_mb_s": ours["mb_s"],
                "reference_mb_s": reference["mb_s"],
                "ratio": float(ours["mb_s"]) / float(reference["mb_s"]),
                "complete": ours["complete"],
                "sent_bytes": ours["sent_bytes"],
                "notes": f"ours {float(ours['seconds']):.2f} s (hub handler busy {float(ours['hub_busy_s']):.2f} s, "
                f"terminal loop busy {float(ours['device_busy_s']):.2f} s), {int(ours['chunks'])} chunks, "
                f"{int(ours['sent_bytes'])} bytes sent, {int(ours['complete'])}/{len(images)} complete at the hub, "
                f"refusals {int(ours['refusals'])}; raw {float(reference['seconds']):.2f} s",
            })  # fmt: skip
    table = Table(title=f"image throughput, {args.images} x {args.size} bytes (no figure is asserted)")
    for column in ("chunk KiB", "ours MiB/s", "raw paho QoS 1 MiB/s", "ours/raw", "notes"):
        table.add_column(column, overflow="fold")
    for row in rows:
        figures = (row["chunk_kib"], row["ours_mb_s"], row["reference_mb_s"], row["ratio"])
        kib, ours_mb_s, raw, ratio = (float(value) for value in figures)
        table.add_row(f"{kib:.0f}", f"{ours_mb_s:.2f}", f"{raw:.2f}", f"{ratio:.2f}x", str(row["notes"]))
    console.print(table)
    console.print(
        f"Ours: one chunk in the link at a time, {WINDOW_CHUNKS} chunks beyond the hub's confirmation, every chunk "
        "committed to the hub's SQLite and answered; rate cap not binding. Raw: paho's 20 messages in flight, "
        "nothing stored."
    )
    return rows


if __name__ == "__main__":
    logging.basicConfig(level=logging.ERROR)
    main()
