"""Parts of the fault-tolerance tests: terminals and hub workers as child processes (so that they can be killed
for real), an in-process hub worker whose counters the test reads, a wire tap that counts what terminals put on the
wire, and the counts at both ends. Every wait is bounded; every child is killed at teardown."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric import ed25519

from device.config import DeviceConfig
from device.config import validate as validate_device_config
from device.store import DeviceStore, ScanEvent, open_database
from district.keyfiles import write_private
from hub.broker.dynsec import DynSecAdmin
from hub.ingest import Ingest
from hub.mqtt.link import HubBrokerSettings, HubLink
from hub.storage.devices import enrol
from hub.storage.ingest import StreamProgress, stream_progress
from hub.storage.models import Batch, Event
from protocol import topics
from protocol.envelope import Batch as SignedBatch
from protocol.envelope import Record, open_batch, seal_batch
from protocol.keys import Alg, PrivateKey, generate_private_key, public_key_pem, spki_der
from protocol.records import ScanRecord
from protocol.topics import Stream
from tests.services.mosquitto import MosquittoBroker, MqttProbe

REPO = Path(__file__).resolve().parents[2]
HUB_USER = "hub"
HUB_PASSWORD = "hub-pass"
LIST_ID = "CN-SH-PD"
ROOT = generate_private_key(Alg.EDDSA)
WAIT_S = 60.0
"""The longest any condition of these tests is waited for before the test fails."""
POLL_S = 0.05
EXIT_WAIT_S = 20.0
"""How long a child gets to exit after SIGTERM (or SIGKILL) before the test fails."""
LOG_TAIL_CHARS = 6000


def wait_for(condition: Callable[[], bool], what: str, timeout_s: float = WAIT_S) -> None:
    """Poll ``condition`` until true; fail the test with ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"not reached within {timeout_s:.0f} s: {what}")
        time.sleep(POLL_S)


@dataclass(frozen=True)
class Identity:
    """An enrolled terminal's id, signing key and broker password."""

    device_id: str
    key: ed25519.Ed25519PrivateKey
    password: str

    @property
    def public_key(self) -> ed25519.Ed25519PublicKey:
        """The key the hub verifies its batches with."""
        return self.key.public_key()


@dataclass
class Site:
    """A broker with the hub's user, a hub database, and the district root key on disk."""

    broker: MosquittoBroker
    engine: sa.Engine
    db_url: str
    directory: Path

    @property
    def root_key_file(self) -> Path:
        """The district root public key (PEM), for hub and terminal configs."""
        path = self.directory / "root.pub.pem"
        if not path.exists():
            path.write_bytes(public_key_pem(ROOT.public_key()))
        return path

    def admin(self) -> DynSecAdmin:
        """A dynamic-security admin connection (use as a context manager)."""
        return DynSecAdmin(self.broker.host, self.broker.port, self.broker.admin_user, self.broker.admin_password)

    def enrol(self, device_id: str) -> Identity:
        """Enrol a terminal at the hub (its key) and at the broker (its user)."""
        key = generate_private_key(Alg.EDDSA)
        assert isinstance(key, ed25519.Ed25519PrivateKey)
        identity = Identity(device_id, key, f"{device_id}-pass")
        with self.admin() as admin:
            admin.enrol_device(device_id, identity.password)
        enrol(self.engine, device_id, spki_der(identity.public_key), profile="scanner", now=time.time(), site="SH-PD-1")
        return identity


class Children:
    """Child processes of one test; whatever is still running at teardown is killed and reaped."""

    def __init__(self) -> None:
        self.processes: list[subprocess.Popen[bytes]] = []

    def spawn(self, command: list[str], log_file: Path) -> subprocess.Popen[bytes]:
        """Start ``command`` from the repository root with its output appended to ``log_file``."""
        with log_file.open("ab") as output:
            process = subprocess.Popen(
                command, cwd=REPO, stdin=subprocess.DEVNULL, stdout=output, stderr=output,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )  # fmt: skip
        self.processes.append(process)
        return process

    def close(self) -> None:
        """SIGKILL and reap every child still running."""
        for process in self.processes:
            if process.poll() is None:
                process.kill()
            process.wait(EXIT_WAIT_S)


def _log_tail(path: Path) -> str:
    try:
        return path.read_text(errors="replace")[-LOG_TAIL_CHARS:]
    except OSError:
        return ""


def kill(process: subprocess.Popen[bytes] | None) -> None:
    """SIGKILL, like a power cut (no DISCONNECT, no last words), and reap."""
    if process is not None and process.poll() is None:
        process.send_signal(signal.SIGKILL)
        process.wait(EXIT_WAIT_S)


def terminate(process: subprocess.Popen[bytes] | None, log_file: Path) -> None:
    """SIGTERM (a clean stop) and wait for exit code 0."""
    if process is None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        code = process.wait(EXIT_WAIT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(EXIT_WAIT_S)
        pytest.fail(f"child did not stop on SIGTERM:\n{_log_tail(log_file)}")
    assert code == 0, f"child exited with {code}:\n{_log_tail(log_file)}"


@dataclass(frozen=True)
class TerminalCounts:
    """What the terminal's own store says: records numbered, acknowledged, not acknowledged."""

    recorded: int
    acked_upto: int
    backlog: int


class Terminal:
    """A terminal run as ``tests.integration.terminal_process``; its store is read by the test between runs too."""

    def __init__(
        self, site: Site, identity: Identity, directory: Path, children: Children, sync: Mapping[str, object]
    ) -> None:
        self.site = site
        self.identity = identity
        self.data_dir = directory / identity.device_id
        self.data_dir.mkdir(parents=True)
        self.log_file = self.data_dir / "terminal.log"
        self.children = children
        self.process: subprocess.Popen[bytes] | None = None
        self.runs = 0
        password_file = self.data_dir / "broker.pass"
        password_file.write_text(identity.password)
        key_file = self.data_dir / "device.key.pem"
        write_private(key_file, identity.key)
        settings: dict[str, object] = {
            "broker_host": site.broker.host,
            "broker_port": site.broker.port,
            "password_file": str(password_file),
            "key_file": str(key_file),
            **sync,
        }
        self.config_file = self.data_dir / "terminal.toml"
        self.config_file.write_text(
            "\n".join(
                [
                    "[device]",
                    f"id = {json.dumps(identity.device_id)}",
                    'profile = "scanner"',
                    'site = "SH-PD-1"',
                    f"data_dir = {json.dumps(str(self.data_dir))}",
                    "[camera]",
                    'kind = "synthetic"',
                    "[signal]",
                    'indicator = "console"',
                    "[lists]",
                    f"root_key = {json.dumps(str(site.root_key_file))}",
                    f"list_id = {json.dumps(LIST_ID)}",
                    "[metrics]",
                    "port = 0",
                    "[sync]",
                    *(f"{key} = {json.dumps(value)}" for key, value in settings.items()),
                    "",
                ]
            )
        )

    @property
    def database(self) -> Path:
        """The terminal's SQLite file."""
        return self.data_dir / "device.db"

    def prefill(self, count: int) -> None:
        """Write ``count`` scan events into the store before the terminal runs: the backlog to drain."""
        db = open_database(self.database)
        db.execute("PRAGMA synchronous=OFF")  # a test fixture, written before any terminal runs
        store = DeviceStore(db)
        boot = store.start_boot()
        now = time.time()
        for i in range(count):
            event = ScanEvent(
                at=now - count + i, time_source="ntp", decision="pass", reason="ok", kind="GP1", iss="CN-ZJ-HZ",
                status="green", rid=f"{i:032x}", latency_ms=12.5,
            )  # fmt: skip
            assert store.record_event(boot, event) is not None
        db.close()

    def counts(self) -> TerminalCounts:
        """Read the terminal's store (a connection of the test's own; the terminal may be running)."""
        store = DeviceStore(open_database(self.database))
        try:
            events = store.counts()[Stream.EVENTS.value]
            return TerminalCounts(int(events["next_seq"]) - 1, int(events["acked_upto"]), int(events["backlog"]))
        finally:
            store.db.close()

    def start(self) -> None:
        """Start (again) as a child process."""
        assert self.process is None or self.process.poll() is not None, "already running"
        self.runs += 1
        with self.log_file.open("a") as log:
            log.write(f"--- run {self.runs} ---\n")
        self.process = self.children.spawn(
            [sys.executable, "-m", "tests.integration.terminal_process", str(self.config_file)], self.log_file
        )

    def kill(self) -> None:
        """SIGKILL: the power cut."""
        kill(self.process)

    def stop(self) -> None:
        """SIGTERM: a clean stop."""
        terminate(self.process, self.log_file)

    def log(self) -> str:
        """The tail of the terminal's log, for failure messages."""
        return _log_tail(self.log_file)


class InProcessHub:
    """A hub worker in the test process (``Ingest`` + ``HubLink``), so that its counters can be read.

    ``hold_acks`` set: acks are dropped instead of published (an ack lost on the way), and counted.
    """

    def __init__(self, site: Site, client_id: str = "hub-1", share_group: str | None = "ingest") -> None:
        self.site = site
        self.client_id = client_id
        self.share_group = share_group
        self.hold_acks = threading.Event()
        self.dropped_acks = 0
        self.ingest = Ingest(site.engine, self._publish, clock=time.time, monotonic=time.monotonic)
        self.link: HubLink | None = None

    def _publish(self, topic: str, data: bytes) -> bool:
        if self.hold_acks.is_set() and topics.parse(topic).down is topics.Down.ACK:
            self.dropped_acks += 1
            return False
        return self.link is not None and self.link.publish(topic, data)

    def start(self) -> InProcessHub:
        """Connect (again) with the same client id and persistent session."""
        self.link = HubLink(
            HubBrokerSettings(
                self.site.broker.host, self.site.broker.port, HUB_USER, HUB_PASSWORD,
                client_id=self.client_id, share_group=self.share_group,
            ),
            self.ingest.handle,
        )  # fmt: skip
        self.link.start()
        link = self.link
        wait_for(lambda: link.connected, f"hub worker {self.client_id} connected")
        return self

    def stop(self) -> None:
        """Disconnect and join paho's thread (idempotent)."""
        if self.link is not None:
            self.link.stop()
            self.link = None


class HubProcess:
    """``gridpass hub run --config hub.toml`` as a child process."""

    def __init__(self, site: Site, worker_id: str, directory: Path, children: Children) -> None:
        self.worker_id = worker_id
        self.children = children
        self.log_file = directory / f"{worker_id}.log"
        password_file = directory / "hub.pass"
        password_file.write_text(HUB_PASSWORD)
        self.config_file = directory / f"{worker_id}.toml"
        self.config_file.write_text(
            "\n".join(
                [
                    "[database]",
                    f"url = {json.dumps(site.db_url)}",
                    "[broker]",
                    f"host = {json.dumps(site.broker.host)}",
                    f"port = {site.broker.port}",
                    f"username = {json.dumps(HUB_USER)}",
                    f"password_file = {json.dumps(str(password_file))}",
                    "[worker]",
                    f"id = {json.dumps(worker_id)}",
                    'share_group = "ingest"',
                    "[lists]",
                    f"root_key = {json.dumps(str(site.root_key_file))}",
                    "",
                ]
            )
        )
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start (again) with the same worker id, hence the same broker session."""
        assert self.process is None or self.process.poll() is not None, "already running"
        gridpass = Path(sys.executable).parent / "gridpass"
        self.process = self.children.spawn(
            [str(gridpass), "hub", "run", "--config", str(self.config_file)], self.log_file
        )

    def kill(self) -> None:
        """SIGKILL mid-whatever-it-was-doing."""
        kill(self.process)

    def stop(self) -> None:
        """SIGTERM."""
        terminate(self.process, self.log_file)

    def connects(self) -> int:
        """How many times its log says it connected to the broker."""
        return _log_tail(self.log_file).count(f"hub worker {self.worker_id} connected")

    def log(self) -> str:
        """The tail of its log."""
        return _log_tail(self.log_file)


@dataclass
class WireTap:
    """A plain (not shared) subscriber, as the hub user, to one device's ``up/events``: what the terminal sent."""

    probe: MqttProbe
    identity: Identity
    batches: list[bytes] = field(default_factory=list)
    seqs: list[int] = field(default_factory=list)

    @classmethod
    def open(cls, broker: MosquittoBroker, identity: Identity) -> WireTap:
        """Connect and subscribe."""
        probe = MqttProbe(broker, HUB_USER, HUB_PASSWORD, client_id=f"wire-tap-{identity.device_id}").connected()
        assert not probe.subscribe(topics.up(identity.device_id, Stream.EVENTS)).is_failure
        return cls(probe, identity)

    def collect(self) -> WireTap:
        """Take every batch seen so far (each verified and decoded)."""
        while True:
            try:
                message = self.probe.messages.get_nowait()
            except queue.Empty:
                return self
            payload = bytes(message.payload)
            batch = open_batch(payload, self.identity.public_key, device=self.identity.device_id, stream=Stream.EVENTS)
            self.batches.append(payload)
            self.seqs.extend(record.seq for record in batch.records)

    def close(self) -> None:
        """Disconnect."""
        self.probe.close()


def hub_seqs(engine: sa.Engine, device_id: str) -> list[int]:
    """Every stored seq of the device's events stream, one per row, ascending (duplicates would show twice)."""
    with engine.connect() as conn:
        return list(
            conn.execute(
                sa.select(Event.seq)
                .where(Event.device_id == device_id, Event.stream == Stream.EVENTS.value)
                .order_by(Event.seq)
            ).scalars()
        )


def hub_batches(engine: sa.Engine, device_id: str) -> int:
    """Batches kept for the relay (one per batch that brought something new)."""
    with engine.connect() as conn:
        return int(
            conn.execute(sa.select(sa.func.count()).select_from(Batch).where(Batch.device_id == device_id)).scalar_one()
        )


def progress(engine: sa.Engine, device_id: str) -> StreamProgress:
    """The hub's ``stream_state`` of the device's events."""
    return stream_progress(engine, device_id, Stream.EVENTS)


def sealed_batch(identity: Identity, seqs: range, *, key: ed25519.Ed25519PrivateKey | None = None) -> bytes:
    """A batch of ``identity``'s events ``seqs``, signed with ``key`` (default: the device's own)."""
    boot = bytes(range(16))
    records = tuple(
        Record(
            seq,
            ScanRecord(
                boot=boot.hex(), at=time.time(), time_source="ntp", decision="pass", reason="ok", kind="GP1",
                iss="CN-ZJ-HZ", status="green", rid=f"{seq:032x}", latency_ms=9.0,
            ).fields(),
        )
        for seq in seqs
    )  # fmt: skip
    return seal_batch(SignedBatch(identity.device_id, Stream.EVENTS, boot, records), key or identity.key)


def exactly_once(engine: sa.Engine, device_id: str, recorded: int) -> None:
    """The hub holds every seq 1..recorded of the device exactly once, and its progress says so."""
    seqs = hub_seqs(engine, device_id)
    assert len(seqs) == recorded, f"{len(seqs)} rows for {recorded} events"
    assert seqs == list(range(1, recorded + 1)), "a seq is missing or stored twice"
    state = progress(engine, device_id)
    assert (state.contiguous_upto, state.max_seq) == (recorded, recorded)


def provision_terminal(
    data_dir: Path,
    broker: MosquittoBroker,
    device_key: PrivateKey,
    root_public_pem: bytes,
    *,
    device_id: str,
    sync: Mapping[str, object] | None = None,
) -> DeviceConfig:
    """What flashing leaves on an in-process terminal: root key, broker password, device key, a validated config."""
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "root.pub.pem").write_bytes(root_public_pem)
    (data_dir / "broker.pass").write_text("device-pass")
    write_private(data_dir / "device.key.pem", device_key)
    return validate_device_config(
        {
            "device": {"id": device_id, "profile": "scanner", "site": "SH-PD-1", "data_dir": str(data_dir)},
            "camera": {"kind": "synthetic", "width": 640, "height": 480},
            "signal": {"indicator": "console"},
            "lists": {"root_key": str(data_dir / "root.pub.pem"), "list_id": "CN-SH-PD"},
            "metrics": {"port": 0},
            "sync": {
                "broker_host": broker.host,
                "broker_port": broker.port,
                "password_file": str(data_dir / "broker.pass"),
                "key_file": str(data_dir / "device.key.pem"),
                **(sync or {}),
            },
        }
    )
