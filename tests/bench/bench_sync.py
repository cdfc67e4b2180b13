"""Sync: how fast a terminal's backlog drains to the hub, and how fast the hub ingests, next to minimal references.

Run: ``python -m tests.bench.bench_sync [--events N] [--postgres]`` (starts its own mosquitto and, with
``--postgres``, its own throwaway PostgreSQL; writes only into a temporary directory). Two figures, each next to a
reference measured in the same run, with the ratio; no figure is asserted:

1. Drain: ``--events`` events in a terminal's SQLite store sent by the real ``Outbox`` over a real ``DeviceLink``
   (signed batches), verified and stored by the real ``Ingest`` (``store_batch`` on SQLite) behind a real
   ``HubLink``, acknowledged back, until the terminal's backlog is 0. The driver loop is the sync thread's
   (``SyncService.run``: handle what arrived, pump, wait ``PUMP_S``). Reference: a minimal pipeline written here
   on the same broker: rows read from SQLite in batches, published raw as JSON at QoS 1 (no signature), a raw
   paho subscriber doing ``INSERT OR IGNORE`` into SQLite and publishing an ack, the sender deleting acked rows.
   Same batch size and window; both SQLite sides run WAL with ``synchronous=FULL``. The outbox's rate cap is set
   out of the way (``RATE_CAP_MESSAGES_S``, ``RATE_CAP_BYTES_S``); the hub keeps its production flood guard.
2. Hub ingest: batches of several devices sealed before timing, fed to ``Ingest.handle`` directly (no broker)
   by 1 and by 3 worker threads (each its own ``Ingest`` on the same engine, each owning whole devices), on
   SQLite and with ``--postgres`` on PostgreSQL. Reference: a bare DB-API ``executemany`` of the same rows into a
   table with the same primary key on the same database, one transaction per batch, one thread.
"""

from __future__ import annotations

import argparse
import json
import logging
import queue
import sqlite3
import tempfile
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric import ed25519
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.reasoncodes import ReasonCode
from psycopg import sql
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from device.store import DeviceStore, ScanEvent, open_database
from device.sync.link import BrokerSettings, DeviceLink
from device.sync.outbox import Outbox, OutboxSettings
from device.sync.service import PUMP_S
from hub.broker.dynsec import DynSecAdmin
from hub.ingest import FloodGuard, Ingest
from hub.mqtt.link import HubBrokerSettings, HubLink
from hub.storage.devices import enrol
from hub.storage.engine import create_engine
from hub.storage.migrate import upgrade
from protocol import topics
from protocol.envelope import Batch, Record, seal_batch
from protocol.keys import Alg, generate_private_key, spki_der
from protocol.messages import DeviceState, StateMessage, parse_ack, seal_state
from protocol.reasons import Reason
from protocol.records import ScanRecord
from protocol.topics import Stream
from tests.services.mosquitto import MosquittoBroker, start_broker
from tests.services.postgres import PostgresCluster, throwaway_cluster

BATCH_RECORDS = 200
"""Records per batch, both pipelines (the terminal's default)."""
WINDOW = 4
"""Unacknowledged batches in flight, both pipelines (the terminal's default)."""
RATE_CAP_MESSAGES_S = 1_000_000.0
RATE_CAP_BYTES_S = 1e10
"""The outbox's rate cap in the drain: far above anything this pipeline reaches, so it never binds."""
ACK_TIMEOUT_S = 30.0
DRAIN_TIMEOUT_S = 1800.0
CONNECT_TIMEOUT_S = 15.0
INGEST_DEVICES = 6
"""Devices the ingest batches come from (a multiple of 1 and 3: each worker owns whole devices)."""
WORKER_COUNTS = (1, 3)
INGEST_FLOOD_RATE = 1e9
"""The direct ingest feeds batches far faster than a real device may send: its flood guard is set out of the way."""
DEVICE = "bench-terminal-01"
MINIMAL_DEVICE = "bench-minimal-01"
HUB_USER = "bench-hub"
DEVICE_PASSWORD = "bench-device-pass"
HUB_PASSWORD = "bench-hub-pass"
SITE = "SH-PD-1"

Row = dict[str, float | str]

_EVENT_COLUMNS = ("seq", "boot_id", "at", "time_source", "decision", "reason", "kind", "iss", "status", "rid",
                  "latency_ms")  # fmt: skip
_MINIMAL_INSERT = "INSERT INTO rows VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
_MINIMAL_HUB_INSERT = "INSERT OR IGNORE INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
_MINIMAL_SELECT = (
    "SELECT seq, boot_id, at, time_source, decision, reason, kind, iss, status, rid, latency_ms"
    " FROM rows WHERE seq > ? ORDER BY seq LIMIT ?"
)
_BARE_INSERT_SQLITE = (
    "INSERT INTO bench_bare (device_id, stream, seq, boot, at, time_source, decision, reason, kind, iss, status, rid,"
    " latency_ms, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_BARE_INSERT_PG = _BARE_INSERT_SQLITE.replace("?", "%s")
_BARE_TABLE = """CREATE TABLE bench_bare (
    device_id VARCHAR(64) NOT NULL, stream VARCHAR(16) NOT NULL, seq BIGINT NOT NULL, boot VARCHAR(32) NOT NULL,
    at DOUBLE PRECISION NOT NULL, time_source VARCHAR(16) NOT NULL, decision VARCHAR(16) NOT NULL,
    reason VARCHAR(64) NOT NULL, kind VARCHAR(8), iss VARCHAR(256), status VARCHAR(64), rid VARCHAR(32),
    latency_ms DOUBLE PRECISION, received_at DOUBLE PRECISION NOT NULL, PRIMARY KEY (device_id, stream, seq))"""


def _event(i: int) -> ScanEvent:
    status, reason = (("green", Reason.OK), ("yellow", Reason.STATUS_YELLOW), ("red", Reason.STATUS_RED))[i % 3]
    return ScanEvent(at=1.8e9 + i, time_source="ntp", decision=reason.decision.value, reason=reason.value,
                     kind="GP1", iss="CN-ZJ-HZ", status=status, rid=f"{i:032x}", latency_ms=12.0)  # fmt: skip


def _rate(events: int, seconds: float) -> float:
    return events / seconds if seconds > 0 else float("nan")


def _ratio(ours: float, reference: float) -> float:
    return ours / reference if reference > 0 else float("nan")


def _wait(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not happen within {timeout_s}s")
        time.sleep(0.01)


# --- 1. drain: ours ---------------------------------------------------------------------------------------------


@dataclass
class _Timed:
    """A callable wrapper that adds up the time spent in it (hub handler)."""

    target: Callable[[str, bytes], None]
    seconds: float = 0.0
    calls: int = 0

    def __call__(self, topic: str, payload: bytes) -> None:
        started = time.perf_counter()
        try:
            self.target(topic, payload)
        finally:
            self.seconds += time.perf_counter() - started
            self.calls += 1


def _fill_store(store: DeviceStore, events: int) -> str:
    boot = store.start_boot()
    conn = store.db.conn
    conn.execute("BEGIN IMMEDIATE")  # one transaction: record_event joins it
    for i in range(events):
        store.record_event(boot, _event(i))
    conn.execute("COMMIT")
    return boot


def _drain_ours(broker: MosquittoBroker, directory: Path, events: int, progress: Progress) -> Row:
    device_key = generate_private_key(Alg.EDDSA)
    assert isinstance(device_key, ed25519.Ed25519PrivateKey)
    engine = create_engine(f"sqlite:///{directory / 'hub.db'}")
    upgrade(engine)
    enrol(engine, DEVICE, spki_der(device_key.public_key()), profile="scanner", now=time.time(), site=SITE)
    store = DeviceStore(open_database(directory / "terminal.db"))
    boot_id = _fill_store(store, events)
    boot = bytes.fromhex(boot_id)

    holder: list[HubLink] = []
    ingest = Ingest(
        engine, lambda topic, data: bool(holder) and holder[0].publish(topic, data),
        clock=time.time, monotonic=time.monotonic,
    )  # fmt: skip
    births = threading.Event()

    def on_hub_message(topic: str, payload: bytes) -> None:
        ingest.handle(topic, payload)
        if topics.parse(topic).kind == "state":
            births.set()

    hub_handler = _Timed(on_hub_message)
    hub = HubLink(
        HubBrokerSettings(broker.host, broker.port, HUB_USER, HUB_PASSWORD, client_id="bench-hub-1",
                          share_group="ingest"),
        hub_handler,
    )  # fmt: skip
    holder.append(hub)

    def state(which: DeviceState) -> bytes:
        return seal_state(StateMessage(DEVICE, which, boot, time.time(), {}), device_key)

    inbox: queue.Queue[tuple[str, bytes]] = queue.Queue()
    connected = threading.Event()
    link = DeviceLink(
        BrokerSettings(broker.host, broker.port, DEVICE, DEVICE_PASSWORD),
        will=state(DeviceState.OFFLINE), birth=lambda: state(DeviceState.ONLINE),
        stopped=lambda: state(DeviceState.STOPPED), subscriptions=topics.device_subscriptions(DEVICE, ()),
        on_message=lambda topic, payload: inbox.put((topic, payload)), on_connected=connected.set,
    )  # fmt: skip
    settings = OutboxSettings(batch_records=BATCH_RECORDS, window=WINDOW, ack_timeout_s=ACK_TIMEOUT_S,
                              rate_messages_s=RATE_CAP_MESSAGES_S, rate_bytes_s=RATE_CAP_BYTES_S)  # fmt: skip
    outbox = Outbox(
        store, link.publish, device_id=DEVICE, device_key=device_key, boot=boot, settings=settings,
        now=time.monotonic(),
    )  # fmt: skip
    task = progress.add_task("drain: ours (Outbox → DeviceLink → HubLink → Ingest)", total=events)
    pump_s = ack_s = 0.0
    try:
        hub.start()
        _wait(lambda: hub.connected, CONNECT_TIMEOUT_S, "the hub worker's connection")
        link.start()
        _wait(lambda: link.connected and births.is_set(), CONNECT_TIMEOUT_S, "the terminal's birth at the hub")
        stop = threading.Event()
        started = time.perf_counter()
        deadline = time.monotonic() + DRAIN_TIMEOUT_S
        busy = False
        while not stop.wait(0 if busy else PUMP_S):  # the sync thread's loop (SyncService.run): no pause while busy
            if connected.is_set():
                connected.clear()
                outbox.reset()
            mark = time.perf_counter()
            handled = 0
            while True:
                try:
                    topic, payload = inbox.get_nowait()
                except queue.Empty:
                    break
                handled += 1
                parsed = topics.parse(topic)
                if parsed.kind == "down" and parsed.down is topics.Down.ACK:
                    outbox.on_ack(parse_ack(payload))
            ack_s += time.perf_counter() - mark
            acked = store.acked_upto(Stream.EVENTS)
            progress.update(task, completed=acked)
            if acked >= events:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"the drain did not finish in {DRAIN_TIMEOUT_S}s (acked {acked}/{events})")
            mark = time.perf_counter()
            busy = outbox.pump(time.monotonic()) > 0 or handled > 0
            pump_s += time.perf_counter() - mark
        elapsed = time.perf_counter() - started
        backlog = store.backlog(Stream.EVENTS)
    finally:
        link.stop(clean=True)
        hub.stop()
        store.db.close()
        engine.dispose()
        progress.remove_task(task)
    return {
        "seconds": elapsed,
        "events_s": _rate(events, elapsed),
        "backlog": float(backlog),
        "hub_stored": float(ingest.stored),
        "hub_refusals": float(sum(ingest.refusals.values())),
        "hub_busy_s": hub_handler.seconds,
        "device_pump_s": pump_s,
        "device_ack_s": ack_s,
        "batches": float(outbox.sent_batches),
        "resent_batches": float(outbox.resent_batches),
    }


# --- 1. drain: the minimal reference ------------------------------------------------------------------------------


class _RawClient:
    """A bare paho client (MQTT 5, clean start) that waits for its CONNACK and SUBACK."""

    def __init__(self, broker: MosquittoBroker, username: str, password: str, client_id: str) -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                                  protocol=MQTTProtocolVersion.MQTTv5, reconnect_on_failure=False)  # fmt: skip
        self.client.username_pw_set(username, password)
        self._connack: queue.Queue[ReasonCode] = queue.Queue()
        self._subacks: queue.Queue[int] = queue.Queue()
        self.client.on_connect = lambda _c, _u, _f, rc, _p: self._connack.put(rc)
        self.client.on_subscribe = lambda _c, _u, mid, _codes, _p: self._subacks.put(mid)
        self.broker = broker

    def connect(self, subscription: str) -> None:
        self.client.connect(self.broker.host, self.broker.port, 30, clean_start=True)
        self.client.loop_start()
        rc = self._connack.get(timeout=CONNECT_TIMEOUT_S)
        if rc.is_failure:
            raise RuntimeError(f"the broker refused a raw client: {rc}")
        result, _mid = self.client.subscribe(subscription, qos=1)
        if result != MQTTErrorCode.MQTT_ERR_SUCCESS:
            raise RuntimeError(f"subscribe failed: {result}")
        self._subacks.get(timeout=CONNECT_TIMEOUT_S)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _sqlite(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    return conn


def _drain_minimal(broker: MosquittoBroker, directory: Path, events: int, progress: Progress) -> Row:
    boot = uuid.uuid4().hex
    sender_db = _sqlite(directory / "minimal-terminal.db")
    sender_db.execute(f"CREATE TABLE rows ({', '.join(_EVENT_COLUMNS)}, PRIMARY KEY (seq))")
    rows = [(i + 1, boot, *(getattr(_event(i), c) for c in _EVENT_COLUMNS[2:])) for i in range(events)]
    sender_db.execute("BEGIN")
    sender_db.executemany(_MINIMAL_INSERT, rows)
    sender_db.execute("COMMIT")
    hub_db = _sqlite(directory / "minimal-hub.db")
    hub_db.execute(f"CREATE TABLE events (device_id, {', '.join(_EVENT_COLUMNS)}, PRIMARY KEY (device_id, seq))")

    up_topic = topics.up(MINIMAL_DEVICE, Stream.EVENTS)
    ack_topic = topics.down(MINIMAL_DEVICE, topics.Down.ACK)
    receiver = _RawClient(broker, HUB_USER, HUB_PASSWORD, "bench-minimal-hub")
    sender = _RawClient(broker, MINIMAL_DEVICE, DEVICE_PASSWORD, MINIMAL_DEVICE)

    def on_batch(client: mqtt.Client, _userdata: object, message: mqtt.MQTTMessage) -> None:
        batch = json.loads(message.payload)
        hub_db.execute("BEGIN")
        hub_db.executemany(_MINIMAL_HUB_INSERT, [(batch["dev"], *row) for row in batch["rows"]])
        hub_db.execute("COMMIT")
        client.publish(ack_topic, json.dumps({"upto": batch["rows"][-1][0]}).encode(), qos=1)

    acks: queue.Queue[int] = queue.Queue()
    receiver.client.on_message = on_batch
    sender.client.on_message = lambda _c, _u, message: acks.put(int(json.loads(message.payload)["upto"]))
    task = progress.add_task("drain: minimal (raw paho + sqlite3)", total=events)
    try:
        receiver.connect(up_topic)
        sender.connect(ack_topic)
        started = time.perf_counter()
        sent_upto = acked = 0
        inflight: deque[int] = deque()
        while acked < events:
            while len(inflight) < WINDOW:
                batch = sender_db.execute(_MINIMAL_SELECT, (sent_upto, BATCH_RECORDS)).fetchall()
                if not batch:
                    break
                payload = json.dumps({"dev": MINIMAL_DEVICE, "rows": batch}).encode()
                info = sender.client.publish(up_topic, payload, qos=1)
                if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                    raise RuntimeError(f"raw publish failed: {info.rc}")
                sent_upto = batch[-1][0]
                inflight.append(sent_upto)
            upto = acks.get(timeout=ACK_TIMEOUT_S)
            sender_db.execute("BEGIN")
            sender_db.execute("DELETE FROM rows WHERE seq <= ?", (upto,))
            sender_db.execute("COMMIT")
            acked = max(acked, upto)
            while inflight and inflight[0] <= acked:
                inflight.popleft()
            progress.update(task, completed=acked)
        elapsed = time.perf_counter() - started
        left = int(sender_db.execute("SELECT COUNT(*) FROM rows").fetchone()[0])
        stored = int(hub_db.execute("SELECT COUNT(*) FROM events").fetchone()[0])
    finally:
        sender.close()
        receiver.close()
        sender_db.close()
        hub_db.close()
        progress.remove_task(task)
    return {"seconds": elapsed, "events_s": _rate(events, elapsed), "backlog": float(left), "hub_stored": float(stored)}


# --- 2. hub ingest -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Device:
    id: str
    key: ed25519.Ed25519PrivateKey
    boot: bytes


@dataclass(frozen=True)
class _Sealed:
    device: str
    topic: str
    payload: bytes
    rows: list[tuple[object, ...]]
    """The same records as bare-insert rows (the columns of ``_BARE_INSERT_SQLITE``)."""


def _ingest_devices() -> list[_Device]:
    devices = []
    for i in range(INGEST_DEVICES):
        key = generate_private_key(Alg.EDDSA)
        assert isinstance(key, ed25519.Ed25519PrivateKey)
        devices.append(_Device(f"bench-ingest-{i:02d}", key, uuid.uuid4().bytes))
    return devices


def _seal_all(devices: list[_Device], events: int) -> list[list[_Sealed]]:
    """Per device, its batches in seq order (``events`` spread over the devices), sealed once."""
    per_device = max(1, events // len(devices))
    sealed: list[list[_Sealed]] = []
    for device in devices:
        batches = []
        for first in range(1, per_device + 1, BATCH_RECORDS):
            seqs = range(first, min(first + BATCH_RECORDS, per_device + 1))
            records = []
            rows: list[tuple[object, ...]] = []
            for seq in seqs:
                event = _event(seq)
                record = ScanRecord(boot=device.boot.hex(), at=event.at, time_source=event.time_source,
                                    decision=event.decision, reason=event.reason, kind=event.kind, iss=event.iss,
                                    status=event.status, rid=event.rid, latency_ms=event.latency_ms)  # fmt: skip
                records.append(Record(seq, record.fields()))
                rows.append((device.id, Stream.EVENTS.value, seq, record.boot, record.at, record.time_source,
                             record.decision, record.reason, record.kind, record.iss, record.status, record.rid,
                             record.latency_ms, 1.8e9))  # fmt: skip
            payload = seal_batch(Batch(device.id, Stream.EVENTS, device.boot, tuple(records)), device.key)
            batches.append(_Sealed(device.id, topics.up(device.id, Stream.EVENTS), payload, rows))
        sealed.append(batches)
    return sealed


def _prepare(url: str, devices: list[_Device]) -> sa.Engine:
    engine = create_engine(url, pool_size=max(WORKER_COUNTS) + 1)
    upgrade(engine)
    for device in devices:
        enrol(engine, device.id, spki_der(device.key.public_key()), profile="scanner", now=time.time(), site=SITE)
    return engine


def _ingest_run(engine: sa.Engine, sealed: list[list[_Sealed]], workers: int, progress: Progress, label: str) -> Row:
    total = sum(len(batch.rows) for batches in sealed for batch in batches)
    task = progress.add_task(f"ingest: {label}, {workers} worker(s)", total=total)
    ingests = [
        Ingest(engine, lambda _t, _d: True, clock=time.time, monotonic=time.monotonic,
               flood=FloodGuard(rate=INGEST_FLOOD_RATE))
        for _ in range(workers)
    ]  # fmt: skip
    shares: list[list[_Sealed]] = [[] for _ in range(workers)]
    for index, batches in enumerate(sealed):  # each worker owns whole devices
        shares[index % workers].extend(batches)
    for share in shares:  # interleave a worker's devices, as they would arrive
        share.sort(key=lambda batch: (batch.rows[0][2], batch.device))
    barrier = threading.Barrier(workers + 1)
    errors: list[BaseException] = []

    def work(ingest: Ingest, share: list[_Sealed]) -> None:
        try:
            barrier.wait()
            for batch in share:
                ingest.handle(batch.topic, batch.payload)
                progress.advance(task, len(batch.rows))
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(ingests[i], shares[i]), name=f"bench-ingest-{i}")
               for i in range(workers)]  # fmt: skip
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    progress.remove_task(task)
    if errors:
        raise errors[0]
    refusals = sum(sum(ingest.refusals.values()) for ingest in ingests)
    stored = sum(ingest.stored for ingest in ingests)
    return {"seconds": elapsed, "events_s": _rate(total, elapsed), "stored": float(stored), "refusals": float(refusals)}


def _bare_run(engine: sa.Engine, sealed: list[list[_Sealed]], progress: Progress, label: str) -> Row:
    """One thread, one transaction per batch: a DB-API executemany into a table with the events' primary key."""
    batches = [batch for per_device in zip(*sealed, strict=False) for batch in per_device]
    total = sum(len(batch.rows) for batch in batches)
    task = progress.add_task(f"ingest: {label}, bare executemany", total=total)
    raw = engine.raw_connection()
    try:
        postgres = engine.dialect.name == "postgresql"
        statement = _BARE_INSERT_PG if postgres else _BARE_INSERT_SQLITE
        cursor = raw.cursor()
        if not postgres:
            cursor.execute("BEGIN IMMEDIATE")  # the engine's SQLite connections run without implicit transactions
        cursor.execute(_BARE_TABLE)
        raw.commit() if postgres else cursor.execute("COMMIT")
        started = time.perf_counter()
        for batch in batches:
            if not postgres:
                cursor.execute("BEGIN IMMEDIATE")
            cursor.executemany(statement, batch.rows)
            raw.commit() if postgres else cursor.execute("COMMIT")
            progress.advance(task, len(batch.rows))
        elapsed = time.perf_counter() - started
        cursor.execute("SELECT COUNT(*) FROM bench_bare")
        row = cursor.fetchone()
        stored = int(row[0]) if row else 0
        raw.commit() if postgres else None
    finally:
        raw.close()
        progress.remove_task(task)
    return {"seconds": elapsed, "events_s": _rate(total, elapsed), "stored": float(stored)}


@contextmanager
def _database(backend: str, directory: Path, cluster: PostgresCluster | None, name: str) -> Iterator[str]:
    """The URL of an empty database of this run's own."""
    if backend == "sqlite":
        yield f"sqlite:///{directory / f'{name}.db'}"
        return
    assert cluster is not None
    with cluster.superuser() as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} OWNER gridpass").format(sql.Identifier(name)))
    try:
        yield cluster.url(name)
    finally:
        with cluster.superuser() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _ingest(backend: str, directory: Path, cluster: PostgresCluster | None, events: int, progress: Progress
            ) -> list[Row]:  # fmt: skip
    devices = _ingest_devices()
    task = progress.add_task(f"ingest: sealing {events} events of {len(devices)} devices", total=None)
    sealed = _seal_all(devices, events)
    progress.remove_task(task)
    rows: list[Row] = []
    bare: Row | None = None
    for workers in WORKER_COUNTS:
        with _database(backend, directory, cluster, f"bench_ingest_{backend}_{workers}") as url:
            engine = _prepare(url, devices)
            try:
                result = _ingest_run(engine, sealed, workers, progress, backend)
                if bare is None:  # the reference, once per database kind, on the same database
                    bare = _bare_run(engine, sealed, progress, backend)
            finally:
                engine.dispose()
        rows.append({"figure": "hub ingest", "case": f"{backend}, {workers} worker(s)", "ours_events_s":
                     result["events_s"], "reference": "bare executemany, 1 thread", "reference_events_s":
                     bare["events_s"], "ratio": _ratio(float(result["events_s"]), float(bare["events_s"])),
                     "notes": f"stored {int(result['stored'])}, refused {int(result['refusals'])}; "
                     f"bare stored {int(bare['stored'])}"})  # fmt: skip
    return rows


# --- main --------------------------------------------------------------------------------------------------------


def _setup_broker(broker: MosquittoBroker) -> None:
    with DynSecAdmin(broker.host, broker.port, broker.admin_user, broker.admin_password) as admin:
        admin.ensure_all()
        admin.enrol_device(DEVICE, DEVICE_PASSWORD)
        admin.enrol_device(MINIMAL_DEVICE, DEVICE_PASSWORD)
        admin.create_hub_user(HUB_USER, HUB_PASSWORD)


def _drain_row(ours: Row, minimal: Row, events: int) -> Row:
    notes = (
        f"ours {float(ours['seconds']):.1f} s: hub handler busy {float(ours['hub_busy_s']):.1f} s, terminal pump "
        f"{float(ours['device_pump_s']):.1f} s + acks {float(ours['device_ack_s']):.1f} s; "
        f"{int(ours['batches'])} batches ({int(ours['resent_batches'])} resent), "
        f"hub refusals {int(ours['hub_refusals'])}; backlog left {int(ours['backlog'])}/{int(minimal['backlog'])}"
    )
    return {"figure": "drain", "case": f"{events} events, batch {BATCH_RECORDS}, window {WINDOW}",
            "ours_events_s": ours["events_s"], "reference": "raw paho JSON + sqlite3",
            "reference_events_s": minimal["events_s"],
            "ratio": _ratio(float(ours["events_s"]), float(minimal["events_s"])), "notes": notes,
            "ours_backlog": ours["backlog"], "reference_backlog": minimal["backlog"],
            "ours_hub_stored": ours["hub_stored"], "reference_hub_stored": minimal["hub_stored"]}  # fmt: skip


def main(argv: list[str] | None = None) -> list[Row]:
    """Run the benchmark; returns the rows it printed."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000, help="Events drained and ingested (default 100000).")
    parser.add_argument("--postgres", action="store_true", help="Also measure the ingest on a throwaway PostgreSQL.")
    args = parser.parse_args(argv)
    console = Console(width=160)
    rows: list[Row] = []
    with ExitStack() as stack:
        directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="gridpass-bench-sync-")))
        progress = stack.enter_context(
            Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                     console=console, transient=True)
        )  # fmt: skip
        task = progress.add_task("starting mosquitto", total=None)
        broker = start_broker(directory / "mosquitto")
        stack.callback(broker.stop)
        _setup_broker(broker)
        progress.remove_task(task)
        minimal = _drain_minimal(broker, directory, args.events, progress)
        ours = _drain_ours(broker, directory, args.events, progress)
        rows.append(_drain_row(ours, minimal, args.events))
        rows.extend(_ingest("sqlite", directory, None, args.events, progress))
        if args.postgres:
            task = progress.add_task("starting PostgreSQL", total=None)
            cluster = stack.enter_context(throwaway_cluster())
            progress.remove_task(task)
            rows.extend(_ingest("postgresql", directory, cluster, args.events, progress))
    table = Table(title=f"sync throughput, {args.events} events (ours = the real pipeline; no figure is asserted)")
    for column in ("figure", "case", "ours events/s", "reference", "reference events/s", "ours/ref", "notes"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(str(row["figure"]), str(row["case"]), f"{float(row['ours_events_s']):,.0f}",
                      str(row["reference"]), f"{float(row['reference_events_s']):,.0f}",
                      f"{float(row['ratio']):.2f}x", str(row["notes"]))  # fmt: skip
    console.print(table)
    console.print(
        f"Outbox rate cap set to {RATE_CAP_MESSAGES_S:,.0f} messages/s and {RATE_CAP_BYTES_S:,.0f} bytes/s (not "
        f"binding); the terminal pumps like the sync thread (no pause while busy, {PUMP_S * 1000:.0f} ms when idle); "
        f"the hub in the drain keeps its production flood guard, the direct ingest sets it to "
        f"{INGEST_FLOOD_RATE:,.0f} messages/s."
    )
    return rows


if __name__ == "__main__":
    logging.basicConfig(level=logging.ERROR)  # the links log every (dis)connect as a warning
    main()
