"""Simulated terminals for the fleet benchmark: hundreds of real MQTT connections per process, one thread.

``python -m tests.bench.fleet_sim terminals SPEC.json`` drives the terminals a spec names. Each is its own paho
client (MQTT 5, its own broker user and client id, a retained signed last will), all served by one selector through
paho's external-loop API (``on_socket_open`` / ``on_socket_register_write`` ... then ``loop_read``, ``loop_write``,
``loop_misc``): no thread per client. A terminal subscribes to its ``down/+``, publishes its signed birth, retained,
then every ``interval_s`` (± ``jitter_s``) records a few scan events and sends them as ``device.sync.outbox`` does
(see :class:`TerminalState`): batches sealed with its own Ed25519 key by the real ``protocol.envelope.seal_batch``,
acks read by ``protocol.messages.parse_ack``. The ack latency is the time from a batch's first publish to the ack
that covers it.

``mode = "raw"`` is the reference pipeline: the same connections and schedule, batches as plain JSON (no signature,
no birth), acks as ``{"upto": n}`` JSON. ``python -m tests.bench.fleet_sim subscriber SPEC.json`` is its hub: one
bare paho subscriber doing ``INSERT ... ON CONFLICT DO NOTHING`` into PostgreSQL, one transaction per batch, and
publishing the ack.

Phases of a terminals process: connect (at most ``connect_rate_s`` new connections a second, bounded by
``connect_timeout_s``), run for ``run_s`` from the moment all are connected, drain (no new batches; resend until
everything is acked, bounded by ``drain_s``), disconnect. A status file is rewritten every ``STATUS_EVERY_S``; the
result (counts and every ack latency) is written as JSON at the end.
"""

from __future__ import annotations

import heapq
import json
import logging
import os
import random
import selectors
import signal
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from cryptography.hazmat.primitives.asymmetric import ed25519
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.reasoncodes import ReasonCode

from protocol import topics
from protocol.envelope import Batch, Record, seal_batch
from protocol.messages import DeviceState, MessageError, StateMessage, parse_ack, seal_state
from protocol.reasons import Reason
from protocol.records import ScanRecord
from protocol.topics import Stream

log = logging.getLogger(__name__)

KEEPALIVE_S = 60
SELECT_MAX_S = 0.2
"""Longest the selector waits: the schedule and the connect pacing are looked at this often."""
MISC_EVERY_S = 1.0
"""paho's ``loop_misc`` (keepalive pings) for every client this often."""
STATUS_EVERY_S = 1.0
RECONNECT_S = 2.0
"""A terminal whose connection dropped tries again after this long."""
WINDOW = 4
BATCH_RECORDS = 200
"""Unacknowledged batches and records per batch: the terminal's defaults (``OutboxSettings``)."""
MIN_EVENTS, MAX_EVENTS = 2, 5
"""Events per batch: a few."""

RAW_COLUMNS = ("boot", "at", "time_source", "decision", "reason", "kind", "iss", "status", "rid", "latency_ms")
"""The columns of a raw batch's rows after the seq (the reference table's order)."""
MODE_SIGNED = "signed"
MODE_RAW = "raw"


@dataclass(frozen=True)
class TerminalSpec:
    """One simulated terminal: id (broker user and client id), broker password, raw Ed25519 private key (hex)."""

    device_id: str
    password: str
    key_hex: str


@dataclass(frozen=True)
class SimSpec:
    """What one terminals process does."""

    host: str
    port: int
    mode: str
    terminals: list[TerminalSpec]
    interval_s: float
    jitter_s: float
    run_s: float
    drain_s: float
    ack_timeout_s: float
    connect_rate_s: float
    connect_timeout_s: float
    status_file: str
    result_file: str
    seed: int = 1

    def write(self, path: Path) -> None:
        """Save as JSON."""
        path.write_text(json.dumps(asdict(self)))

    @classmethod
    def read(cls, path: Path) -> SimSpec:
        """Load what :meth:`write` saved."""
        raw = json.loads(path.read_text())
        raw["terminals"] = [TerminalSpec(**t) for t in raw["terminals"]]
        return cls(**raw)


@dataclass(frozen=True)
class SubscriberSpec:
    """The reference hub: broker credentials, the PostgreSQL DSN, where to say it is ready and what it stored."""

    host: str
    port: int
    username: str
    password: str
    dsn: str
    status_file: str


# --- the pure part: one terminal's batches and acks --------------------------------------------------------------


@dataclass
class TerminalState:
    """One terminal's events and batches, kept as the real ``device.sync.outbox.Outbox`` keeps them.

    Events are numbered as they are recorded; a batch takes up to ``BATCH_RECORDS`` events from the oldest not yet
    sent, at most ``WINDOW`` batches unacknowledged. An ack moves ``acked_upto`` on and puts the ranges it names
    missing in the resend queue (sent first, outside the window). The oldest batch unacknowledged for the ack
    timeout sends everything again from the last ack (go-back-N). The latency of a batch of new events runs from its
    first publish to the ack that covers it.
    """

    recorded: int = 0
    acked_upto: int = 0
    sent_upto: int = 0
    max_sent: int = 0
    inflight: deque[tuple[int, float]] = field(default_factory=deque)
    resend: deque[tuple[int, int]] = field(default_factory=deque)
    first_sends: deque[tuple[int, float]] = field(default_factory=deque)
    at: dict[int, float] = field(default_factory=dict)
    latencies_s: list[float] = field(default_factory=list)
    batches: int = 0
    resent: int = 0
    timeouts: int = 0

    def record(self, count: int, at: float) -> None:
        """``count`` scan events happened at ``at``."""
        for seq in range(self.recorded + 1, self.recorded + count + 1):
            self.at[seq] = at
        self.recorded += count

    def next_batch(self, now: float) -> range | None:
        """The seqs of the next batch to publish now (resends first, then new events under the window), or None."""
        if self.resend:
            first, last = self.resend[0]
            seqs = range(first, min(last, first + BATCH_RECORDS - 1) + 1)
            if seqs.stop - 1 >= last:
                self.resend.popleft()
            else:
                self.resend[0] = (seqs.stop, last)
            self.batches += 1
            self.resent += 1
            return seqs
        if len(self.inflight) >= WINDOW or self.sent_upto >= self.recorded:
            return None
        seqs = range(self.sent_upto + 1, min(self.recorded, self.sent_upto + BATCH_RECORDS) + 1)
        self.sent_upto = seqs.stop - 1
        self.inflight.append((self.sent_upto, now))
        self.batches += 1
        self.resent += seqs.start <= self.max_sent  # after a timeout: seqs sent before go again
        if self.sent_upto > self.max_sent:
            self.first_sends.append((self.sent_upto, now))
            self.max_sent = self.sent_upto
        return seqs

    def on_ack(self, upto: int, missing: tuple[tuple[int, int], ...], now: float) -> None:
        """The hub stored up to ``upto``; ``missing`` ranges go to the resend queue."""
        self.acked_upto = max(self.acked_upto, min(upto, self.max_sent))
        while self.inflight and self.inflight[0][0] <= upto:
            self.inflight.popleft()
        self.sent_upto = max(self.sent_upto, self.acked_upto)
        while self.first_sends and self.first_sends[0][0] <= self.acked_upto:
            self.latencies_s.append(now - self.first_sends.popleft()[1])
        for seq in [seq for seq in self.at if seq <= self.acked_upto]:
            del self.at[seq]
        for first, last in missing:
            if last > upto and (first, last) not in self.resend:
                self.resend.append((max(first, upto + 1), last))

    def check_timeout(self, now: float, ack_timeout_s: float) -> bool:
        """Go back to the last ack when the oldest batch waited ``ack_timeout_s``; whether it did."""
        if self.inflight and now - self.inflight[0][1] > ack_timeout_s:
            self.sent_upto = self.acked_upto
            self.inflight.clear()
            self.timeouts += 1
            return True
        return False

    def reset(self) -> None:
        """A new connection: everything not acknowledged goes again (``Outbox.reset``)."""
        self.sent_upto = self.acked_upto
        self.inflight.clear()

    @property
    def drained(self) -> bool:
        """Every recorded event is acknowledged."""
        return self.acked_upto >= self.recorded


def scan_record(boot: str, seq: int, at: float) -> ScanRecord:
    """A plausible scan event (green, yellow and red in turn)."""
    status, reason = (("green", Reason.OK), ("yellow", Reason.STATUS_YELLOW), ("red", Reason.STATUS_RED))[seq % 3]
    return ScanRecord(boot=boot, at=at, time_source="ntp", decision=reason.decision.value, reason=reason.value,
                      kind="GP1", iss="CN-ZJ-HZ", status=status, rid=f"{seq:032x}", latency_ms=12.0)  # fmt: skip


# --- the terminals process ---------------------------------------------------------------------------------------


class SimTerminal:
    """One terminal: its paho client (driven by the shared selector), its key and its state."""

    def __init__(self, spec: TerminalSpec, sim: Simulator) -> None:
        self.spec = spec
        self.sim = sim
        self.key = ed25519.Ed25519PrivateKey.from_private_bytes(bytes.fromhex(spec.key_hex))
        self.boot = uuid.uuid4().bytes
        self.state = TerminalState()
        self.connected = False
        self.ever_connected = False
        self.disconnects = 0
        self.refused = 0
        self.next_batch_at: float | None = None
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=spec.device_id,
                             protocol=MQTTProtocolVersion.MQTTv5, reconnect_on_failure=False)  # fmt: skip
        client.username_pw_set(spec.device_id, spec.password)
        if sim.spec.mode == MODE_SIGNED:
            will = seal_state(StateMessage(spec.device_id, DeviceState.OFFLINE, self.boot, time.time(), {}), self.key)
            client.will_set(topics.state(spec.device_id), will, qos=1, retain=True)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        client.on_socket_open = sim.socket_open
        client.on_socket_close = sim.socket_close
        client.on_socket_register_write = sim.register_write
        client.on_socket_unregister_write = sim.unregister_write
        self.client = client

    def connect(self) -> None:
        """Open the TCP connection and queue CONNECT (the selector does the rest)."""
        try:
            self.client.connect(self.sim.spec.host, self.sim.spec.port, KEEPALIVE_S, clean_start=True)
        except OSError as exc:
            log.warning("%s: connect failed: %s", self.spec.device_id, exc)
            self.sim.reconnect_later(self)

    def _on_connect(self, client: mqtt.Client, _u: object, _f: object, rc: ReasonCode, _p: object) -> None:
        if rc.is_failure:
            self.refused += 1
            log.warning("%s: the broker refused the connection: %s", self.spec.device_id, rc)
            return
        self.connected = self.ever_connected = True
        client.subscribe([(f, 1) for f in topics.device_subscriptions(self.spec.device_id, ())])

    def _on_subscribe(self, client: mqtt.Client, _u: object, _mid: int, codes: list[ReasonCode], _p: object) -> None:
        if any(code.is_failure for code in codes):
            log.warning("%s: a subscription was refused", self.spec.device_id)
        now = time.monotonic()
        if self.sim.spec.mode == MODE_SIGNED:
            backlog = {Stream.EVENTS.value: self.state.recorded - self.state.acked_upto}
            info = {"fw": "fleet-sim", "profile": "scanner", "backlog": backlog}
            birth = StateMessage(self.spec.device_id, DeviceState.ONLINE, self.boot, time.time(), info)
            client.publish(topics.state(self.spec.device_id), seal_state(birth, self.key), qos=1, retain=True)
        self.state.reset()  # a new session: what was not acknowledged goes again
        self.pump(now)
        if self.next_batch_at is None:
            self.next_batch_at = now + self.sim.rng.uniform(0, self.sim.spec.interval_s)
            self.sim.schedule(self)

    def _on_disconnect(self, _c: mqtt.Client, _u: object, _f: object, rc: ReasonCode, _p: object) -> None:
        was = self.connected
        self.connected = False
        if was and not self.sim.closing:
            self.disconnects += 1
            log.warning("%s: disconnected: %s", self.spec.device_id, rc)
            self.sim.reconnect_later(self)

    def _on_message(self, _c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        now = time.monotonic()
        try:
            parsed = topics.parse(message.topic)
        except topics.TopicError:
            return
        if parsed.down is not topics.Down.ACK:
            return
        if self.sim.spec.mode == MODE_SIGNED:
            try:
                ack = parse_ack(bytes(message.payload))
            except MessageError:
                self.sim.bad_acks += 1
                return
            if ack.stream is not Stream.EVENTS:
                return
            upto, missing = ack.upto, ack.missing
        else:
            try:
                upto, missing = int(json.loads(message.payload)["upto"]), ()
            except (ValueError, KeyError, TypeError):
                self.sim.bad_acks += 1
                return
        self.state.on_ack(upto, missing, now)
        self.pump(now)

    def _publish(self, payload: bytes) -> None:
        info = self.client.publish(topics.up(self.spec.device_id, Stream.EVENTS), payload, qos=1)
        if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
            log.warning("%s: publish failed: %s", self.spec.device_id, info.rc)

    def scan(self, now: float) -> None:
        """A few people scanned: record their events and send what the window allows."""
        self.state.record(self.sim.rng.randint(MIN_EVENTS, MAX_EVENTS), time.time())
        self.pump(now)

    def pump(self, now: float) -> None:
        """Publish batches while the state has one to send (the outbox's ``pump``)."""
        if not self.connected:
            return
        while (seqs := self.state.next_batch(now)) is not None:
            self._publish(self._encode(seqs))

    def _encode(self, seqs: range) -> bytes:
        boot = self.boot.hex()
        records = [(seq, scan_record(boot, seq, self.state.at.get(seq, 0.0))) for seq in seqs]
        if self.sim.spec.mode == MODE_SIGNED:
            signed = tuple(Record(seq, record.fields()) for seq, record in records)
            return seal_batch(Batch(self.spec.device_id, Stream.EVENTS, self.boot, signed), self.key)
        rows = [[seq, *(getattr(record, c) for c in RAW_COLUMNS)] for seq, record in records]
        return json.dumps({"dev": self.spec.device_id, "rows": rows}).encode()

    def check_timeouts(self, now: float) -> None:
        """Go back to the last ack when the hub has been silent too long."""
        if self.connected and self.state.check_timeout(now, self.sim.spec.ack_timeout_s):
            self.pump(now)


class Simulator:
    """Every terminal of one process, one selector, one thread."""

    def __init__(self, spec: SimSpec, stop: threading.Event) -> None:
        self.spec = spec
        self.stop = stop
        self.rng = random.Random(spec.seed)
        self.selector = selectors.DefaultSelector()
        self.closing = False
        self.bad_acks = 0
        self.phase = "connecting"
        self._due: list[tuple[float, int, int]] = []
        self._retry: list[tuple[float, int, int]] = []
        self._ticket = 0
        self.terminals = [SimTerminal(t, self) for t in spec.terminals]
        self._index = {id(t): i for i, t in enumerate(self.terminals)}
        self._status_at = 0.0

    # selector callbacks (paho calls them from connect/publish/loop_*)
    def socket_open(self, client: mqtt.Client, _u: object, sock: mqtt.SocketLike) -> None:
        """Watch a new socket for reading."""
        self.selector.register(sock, selectors.EVENT_READ, client)

    def socket_close(self, _c: mqtt.Client, _u: object, sock: mqtt.SocketLike) -> None:
        """Stop watching a closed socket."""
        try:
            self.selector.unregister(sock)
        except (KeyError, ValueError):
            log.debug("socket already unregistered")

    def register_write(self, client: mqtt.Client, _u: object, sock: mqtt.SocketLike) -> None:
        """paho has bytes to send: watch for writability too."""
        try:
            self.selector.modify(sock, selectors.EVENT_READ | selectors.EVENT_WRITE, client)
        except (KeyError, ValueError):
            log.debug("write registration for an unknown socket")

    def unregister_write(self, client: mqtt.Client, _u: object, sock: mqtt.SocketLike) -> None:
        """Nothing left to send."""
        try:
            self.selector.modify(sock, selectors.EVENT_READ, client)
        except (KeyError, ValueError):
            log.debug("write unregistration for an unknown socket")

    def schedule(self, terminal: SimTerminal) -> None:
        """Put the terminal's next batch on the timetable."""
        if terminal.next_batch_at is not None:
            self._ticket += 1
            heapq.heappush(self._due, (terminal.next_batch_at, self._ticket, self._index[id(terminal)]))

    def reconnect_later(self, terminal: SimTerminal) -> None:
        """Try the connection again after ``RECONNECT_S``."""
        self._ticket += 1
        heapq.heappush(self._retry, (time.monotonic() + RECONNECT_S, self._ticket, self._index[id(terminal)]))

    def _poll(self, timeout_s: float) -> None:
        for key, events in self.selector.select(timeout_s):
            client: mqtt.Client = key.data
            if events & selectors.EVENT_READ:
                client.loop_read()
            if events & selectors.EVENT_WRITE:
                client.loop_write()

    def connected(self) -> int:
        """Terminals connected now."""
        return sum(t.connected for t in self.terminals)

    def _write_status(self, now: float, force: bool = False) -> None:
        if not force and now - self._status_at < STATUS_EVERY_S:
            return
        self._status_at = now
        states = [t.state for t in self.terminals]
        status = {"phase": self.phase, "connected": self.connected(), "terminals": len(self.terminals),
                  "sent": sum(s.recorded for s in states), "acked": sum(s.acked_upto for s in states),
                  "pid": os.getpid()}  # fmt: skip
        path = Path(self.spec.status_file)
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(status))
        temporary.replace(path)

    def _tick(self, now: float, generate: bool) -> None:
        while self._retry and self._retry[0][0] <= now:
            _at, _ticket, index = heapq.heappop(self._retry)
            terminal = self.terminals[index]
            if not terminal.connected and not self.closing and terminal.client.socket() is None:
                try:
                    terminal.client.reconnect()
                except OSError as exc:
                    log.warning("%s: reconnect failed: %s", terminal.spec.device_id, exc)
                    self.reconnect_later(terminal)
        while generate and self._due and self._due[0][0] <= now:
            _at, _ticket, index = heapq.heappop(self._due)
            terminal = self.terminals[index]
            terminal.scan(now)
            interval, jitter = self.spec.interval_s, self.spec.jitter_s
            terminal.next_batch_at = now + interval + self.rng.uniform(-jitter, jitter)
            self.schedule(terminal)

    def _loop_until(self, done: Callable[[float], bool], generate: bool, deadline: float) -> bool:
        misc_at = 0.0
        while not self.stop.is_set():
            now = time.monotonic()
            if done(now):
                return True
            if now >= deadline:
                return False
            self._poll(SELECT_MAX_S)
            now = time.monotonic()
            self._tick(now, generate)
            if now - misc_at >= MISC_EVERY_S:
                misc_at = now
                for terminal in self.terminals:
                    terminal.client.loop_misc()
                    terminal.check_timeouts(now)
            self._write_status(now)
        return False

    def run(self) -> dict[str, Any]:
        """All the phases; returns the result."""
        started = time.monotonic()
        pending = list(self.terminals)
        pace_s = 1.0 / self.spec.connect_rate_s

        def connecting(now: float) -> bool:
            while pending and now - started >= (len(self.terminals) - len(pending)) * pace_s:
                pending.pop(0).connect()
            return not pending and all(t.ever_connected or t.refused for t in self.terminals)

        self._loop_until(connecting, generate=False, deadline=started + self.spec.connect_timeout_s)
        connected_at_start = self.connected()
        self.phase = "running"
        self._write_status(time.monotonic(), force=True)
        run_from = time.monotonic()
        self._loop_until(lambda _now: False, generate=True, deadline=run_from + self.spec.run_s)
        self.phase = "draining"
        self._write_status(time.monotonic(), force=True)
        drained = self._loop_until(lambda _now: all(t.state.drained for t in self.terminals), generate=False,
                                   deadline=time.monotonic() + self.spec.drain_s)  # fmt: skip
        self.closing = True
        for terminal in self.terminals:
            if terminal.connected:
                terminal.client.disconnect()
        self._loop_until(lambda _now: not self.selector.get_map(), generate=False, deadline=time.monotonic() + 5)
        self.phase = "done"
        self._write_status(time.monotonic(), force=True)
        states = [t.state for t in self.terminals]
        return {
            "terminals": len(self.terminals),
            "connected_at_start": connected_at_start,
            "never_connected": sum(not t.ever_connected for t in self.terminals),
            "refused": sum(t.refused for t in self.terminals),
            "disconnects": sum(t.disconnects for t in self.terminals),
            "sent_events": sum(s.recorded for s in states),
            "acked_events": sum(s.acked_upto for s in states),
            "batches": sum(s.batches for s in states),
            "resent": sum(s.resent for s in states),
            "unacked_events": sum(s.recorded - s.acked_upto for s in states),
            "timeouts": sum(s.timeouts for s in states),
            "drained": drained,
            "bad_acks": self.bad_acks,
            "latencies_ms": [round(v * 1000, 3) for s in states for v in s.latencies_s],
            "per_device_sent": {t.spec.device_id: t.state.recorded for t in self.terminals},
        }


def run_terminals(spec_file: Path) -> int:
    """Entry of a terminals process: run the spec, write the result file."""
    spec = SimSpec.read(spec_file)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    simulator = Simulator(spec, stop)
    try:
        result = simulator.run()
    finally:
        simulator.selector.close()
    Path(spec.result_file).write_text(json.dumps(result))
    return 0


# --- the reference hub: a bare subscriber ----------------------------------------------------------------------

REFERENCE_TABLE = """CREATE TABLE IF NOT EXISTS bare_events (
    device_id VARCHAR(64) NOT NULL, seq BIGINT NOT NULL, boot VARCHAR(32) NOT NULL, at DOUBLE PRECISION NOT NULL,
    time_source VARCHAR(16) NOT NULL, decision VARCHAR(16) NOT NULL, reason VARCHAR(64) NOT NULL, kind VARCHAR(8),
    iss VARCHAR(256), status VARCHAR(64), rid VARCHAR(32), latency_ms DOUBLE PRECISION,
    PRIMARY KEY (device_id, seq))"""
_REFERENCE_INSERT = (
    "INSERT INTO bare_events (device_id, seq, boot, at, time_source, decision, reason, kind, iss, status, rid,"
    " latency_ms) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING"
)


def run_subscriber(spec_file: Path) -> int:
    """Entry of the reference hub: subscribe to every device's events, INSERT each batch, ack it; until SIGTERM."""
    import psycopg

    raw = json.loads(spec_file.read_text())
    spec = SubscriberSpec(**raw)
    db = psycopg.connect(spec.dsn)
    db.execute(REFERENCE_TABLE)
    db.commit()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="fleet-reference-hub",
                         protocol=MQTTProtocolVersion.MQTTv5)  # fmt: skip
    client.username_pw_set(spec.username, spec.password)
    stored = [0]

    def on_connect(c: mqtt.Client, _u: object, _f: object, rc: ReasonCode, _p: object) -> None:
        if not rc.is_failure:
            c.subscribe(topics.hub_subscriptions()[-1], qos=1)

    def on_subscribe(_c: mqtt.Client, _u: object, _mid: int, _codes: list[ReasonCode], _p: object) -> None:
        Path(spec.status_file).write_text(json.dumps({"ready": True}))

    def on_message(c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        try:
            batch = json.loads(message.payload)
            device, rows = str(batch["dev"]), batch["rows"]
            with db.cursor() as cursor:
                cursor.executemany(_REFERENCE_INSERT, [(device, *row) for row in rows])
            db.commit()
            stored[0] += len(rows)
            c.publish(topics.down(device, topics.Down.ACK), json.dumps({"upto": rows[-1][0]}), qos=1)
        except (ValueError, KeyError, TypeError, IndexError, psycopg.Error) as exc:
            db.rollback()
            log.warning("reference hub: a batch failed: %s", exc)

    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    signal.signal(signal.SIGTERM, lambda *_: client.disconnect())
    client.connect(spec.host, spec.port, KEEPALIVE_S)
    client.loop_forever()
    db.close()
    Path(spec.status_file).write_text(json.dumps({"ready": False, "stored": stored[0]}))
    return 0


def main(argv: list[str] | None = None) -> int:
    """``terminals SPEC`` or ``subscriber SPEC``."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or args[0] not in ("terminals", "subscriber"):
        print("usage: python -m tests.bench.fleet_sim terminals|subscriber SPEC.json", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    entry = run_terminals if args[0] == "terminals" else run_subscriber
    return entry(Path(args[1]))


if __name__ == "__main__":
    sys.exit(main())
