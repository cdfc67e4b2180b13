"""A real mosquitto for integration tests: its own config, port, persistence and dynamic-security file.

``broker`` starts ``/usr/sbin/mosquitto`` on 127.0.0.1 with ``allow_anonymous false`` and the dynamic-security
plugin (only the admin user of ``mosquitto_ctrl dynsec init`` exists at first); the test can ``stop()``,
``kill()`` and ``start()`` it again on the same port with the same persistence. ``MqttProbe`` is a paho client
whose every call waits, bounded, for the broker's answer, for tests that check what the broker allows.
"""

from __future__ import annotations

import getpass
import os
import queue
import random
import secrets
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

MOSQUITTO = os.environ.get("GRIDPASS_MOSQUITTO", "/usr/sbin/mosquitto")
MOSQUITTO_CTRL = os.environ.get("GRIDPASS_MOSQUITTO_CTRL", "/usr/bin/mosquitto_ctrl")
DYNSEC_PLUGIN = os.environ.get("GRIDPASS_DYNSEC_PLUGIN", "/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so")
HOST = "127.0.0.1"
START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 10.0
START_ATTEMPTS = 3
"""A port picked free can be taken by another process before mosquitto binds it: try that many ports."""
POLL_S = 0.01
WAIT_S = 5.0
"""How long an ``MqttProbe`` waits for any answer of the broker."""
LOG_TAIL_CHARS = 8000
KEEPALIVE_S = 30
SESSION_EXPIRY_S = 3600
"""Session expiry of a persistent ``MqttProbe`` (MQTT 5)."""
PORT_LOW = 20000
"""Ports are picked from here up to the kernel's ephemeral range, which outgoing connections draw from."""

_ports_handed_out: set[int] = set()
_ports_lock = threading.Lock()


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing is bound to now and that this process never handed out before.

    It is drawn at random below the ephemeral range, so the kernel does not give it to an outgoing connection
    meanwhile; another process can still bind it first, so a service that fails with "address in use" is
    started again on another port (see ``START_ATTEMPTS``).
    """
    low, _ = _ephemeral_range()
    with _ports_lock:
        for _ in range(500):
            if low - PORT_LOW > 1000:
                port = random.randrange(PORT_LOW, low)
            else:  # an unusual ephemeral range: let the kernel choose
                with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                    sock.bind((HOST, 0))
                    port = int(sock.getsockname()[1])
            if port not in _ports_handed_out and _bindable(port):
                _ports_handed_out.add(port)
                return port
    raise RuntimeError("no free TCP port found on 127.0.0.1")


class BrokerStartError(RuntimeError):
    """mosquitto did not come up; the message carries its log."""


class MosquittoBroker:
    """One mosquitto process and the directory that holds its config, persistence, ACLs and log."""

    def __init__(self, config_dir: Path, port: int) -> None:
        self.host = HOST
        self.port = port
        self.config_dir = config_dir
        self.admin_user = "admin"
        self.admin_password = secrets.token_urlsafe(16)
        self.config_file = config_dir / "mosquitto.conf"
        self.dynsec_file = config_dir / "dynamic-security.json"
        self.log_file = config_dir / "mosquitto.log"
        self.output_file = config_dir / "mosquitto.out"
        self._process: subprocess.Popen[bytes] | None = None
        config_dir.mkdir(parents=True, exist_ok=True)
        (config_dir / "data").mkdir(exist_ok=True)
        for tool in (MOSQUITTO, MOSQUITTO_CTRL, DYNSEC_PLUGIN):
            if not Path(tool).exists():
                pytest.fail(f"{tool} is missing: run ./scripts/test, which installs mosquitto")
        subprocess.run(
            [MOSQUITTO_CTRL, "dynsec", "init", str(self.dynsec_file), self.admin_user, self.admin_password],
            check=True,
            capture_output=True,
            timeout=START_TIMEOUT_S,
        )
        self._write_config()

    def _write_config(self) -> None:
        self.config_file.write_text(
            "\n".join(
                [
                    f"listener {self.port} {HOST}",
                    "allow_anonymous false",
                    "per_listener_settings false",
                    # As root, mosquitto would switch to the "mosquitto" user, which cannot enter pytest's tmp dir.
                    f"user {getpass.getuser()}",
                    "persistence true",
                    f"persistence_location {self.config_dir / 'data'}/",
                    f"plugin {DYNSEC_PLUGIN}",
                    f"plugin_opt_config_file {self.dynsec_file}",
                    f"log_dest file {self.log_file}",
                    "log_type all",
                    "set_tcp_nodelay true",
                    "log_timestamp_format %H:%M:%S",
                    "",
                ]
            )
        )

    @property
    def running(self) -> bool:
        """Whether the process is alive."""
        return self._process is not None and self._process.poll() is None

    def start(self, timeout_s: float = START_TIMEOUT_S) -> None:
        """Start (again) on the same port and persistence; return once it accepts connections."""
        if self.running:
            raise BrokerStartError("mosquitto is already running")
        log_offset = self.log_file.stat().st_size if self.log_file.exists() else 0
        with self.output_file.open("ab") as output:
            self._process = subprocess.Popen(
                [MOSQUITTO, "-c", str(self.config_file)], stdin=subprocess.DEVNULL, stdout=output, stderr=output
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise BrokerStartError(f"mosquitto exited with {self._process.returncode}:\n{self.log()}")
            if " running" in self._log_since(log_offset) and self._accepts():
                return
            time.sleep(POLL_S)
        self.kill()
        raise BrokerStartError(
            f"mosquitto did not accept connections on {HOST}:{self.port} in {timeout_s}s:\n{self.log()}"
        )

    def _log_since(self, offset: int) -> str:
        try:
            with self.log_file.open("rb") as log_file:
                log_file.seek(offset)
                return log_file.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    def _accepts(self) -> bool:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.settimeout(1.0)
            return sock.connect_ex((HOST, self.port)) == 0

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """SIGTERM and wait: mosquitto saves its persistence file on the way out. SIGKILL if it hangs."""
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout_s)
        self._process = None

    def kill(self) -> None:
        """SIGKILL, like a power cut: what was not saved yet is lost."""
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.kill()
            self._process.wait(STOP_TIMEOUT_S)
        self._process = None

    def log(self) -> str:
        """The broker's log file, then anything it wrote to stdout or stderr."""
        text = self._log_since(0)
        if self.output_file.exists() and (output := self.output_file.read_text(errors="replace").strip()):
            text += f"\n--- stdout/stderr ---\n{output}"
        return text


def start_broker(directory: Path) -> MosquittoBroker:
    """A started broker in ``directory``, on a free port (another one if the first is taken meanwhile)."""
    error: BrokerStartError | None = None
    for attempt in range(START_ATTEMPTS):
        broker = MosquittoBroker(directory / f"attempt-{attempt}", free_port())
        try:
            broker.start()
        except BrokerStartError as exc:
            broker.kill()
            error = exc
            if "Address already in use" not in broker.log():
                break
        else:
            return broker
    pytest.fail(f"mosquitto did not start: {error}", pytrace=False)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[MosquittoBroker]:
    """A running mosquitto of this test's own (dynamic security, persistence, 127.0.0.1), stopped afterwards."""
    started = start_broker(tmp_path / "mosquitto")
    try:
        yield started
    finally:
        started.stop()
        # Shown by pytest only when the test failed.
        print(f"--- mosquitto log ({started.log_file}) ---\n{started.log()[-LOG_TAIL_CHARS:]}")


class MqttProbe:
    """A paho client for tests: connect, subscribe and publish wait for the broker's answer, all bounded.

    It never reconnects by itself. ``close()`` disconnects and joins paho's network thread.
    """

    def __init__(
        self,
        broker: MosquittoBroker,
        username: str,
        password: str,
        *,
        client_id: str | None = None,
        protocol: MQTTProtocolVersion = MQTTProtocolVersion.MQTTv5,
        persistent: bool = False,
    ) -> None:
        self.broker = broker
        self.protocol = protocol
        self.persistent = persistent
        v5 = protocol is MQTTProtocolVersion.MQTTv5
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id or username,
            protocol=protocol,
            clean_session=None if v5 else not persistent,
            reconnect_on_failure=False,
        )
        self.client.username_pw_set(username, password)
        self.messages: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        self.disconnected = threading.Event()
        self.disconnect_reason: ReasonCode | None = None
        self._connack: queue.Queue[ReasonCode] = queue.Queue()
        self._subacks: dict[int, list[ReasonCode]] = {}
        self._pubacks: dict[int, ReasonCode] = {}
        self._acked = threading.Condition()
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_publish = self._on_publish
        self.client.on_message = lambda _c, _u, message: self.messages.put(message)

    def _on_connect(self, _c: mqtt.Client, _u: object, _f: object, rc: ReasonCode, _p: object) -> None:
        self._connack.put(rc)

    def _on_disconnect(self, _c: mqtt.Client, _u: object, _f: object, rc: ReasonCode, _p: object) -> None:
        self.disconnect_reason = rc
        self.disconnected.set()

    def _on_subscribe(self, _c: mqtt.Client, _u: object, mid: int, codes: list[ReasonCode], _p: object) -> None:
        with self._acked:
            self._subacks[mid] = codes
            self._acked.notify_all()

    def _on_publish(self, _c: mqtt.Client, _u: object, mid: int, rc: ReasonCode, _p: object) -> None:
        with self._acked:
            self._pubacks[mid] = rc
            self._acked.notify_all()

    def will(self, topic: str, payload: bytes) -> MqttProbe:
        """Set a retained QoS 1 last will (before ``connect``)."""
        self.client.will_set(topic, payload, qos=1, retain=True)
        return self

    def connect(self) -> ReasonCode:
        """Connect and return the CONNACK reason code (a refusal is returned, not raised)."""
        self.client.loop_stop()
        self.disconnected.clear()
        if self.protocol is MQTTProtocolVersion.MQTTv5:
            properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            properties.SessionExpiryInterval = SESSION_EXPIRY_S if self.persistent else 0
            self.client.connect(
                self.broker.host, self.broker.port, KEEPALIVE_S, clean_start=not self.persistent, properties=properties
            )
        else:
            self.client.connect(self.broker.host, self.broker.port, KEEPALIVE_S)
        self.client.loop_start()
        return self._connack.get(timeout=WAIT_S)

    def connected(self) -> MqttProbe:
        """Connect and fail the test unless the broker accepts."""
        rc = self.connect()
        assert not rc.is_failure, f"connection refused: {rc}"
        return self

    def subscribe(self, topic: str, qos: int = 1) -> ReasonCode:
        """Subscribe and return the SUBACK reason code (granted QoS, or a failure)."""
        result, mid = self.client.subscribe(topic, qos)
        assert result == MQTTErrorCode.MQTT_ERR_SUCCESS, result
        assert mid is not None
        with self._acked:
            assert self._acked.wait_for(lambda: mid in self._subacks, WAIT_S), f"no SUBACK for {topic}"
            return self._subacks.pop(mid)[0]

    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> ReasonCode:
        """Publish and, at QoS 1, return the PUBACK reason code (MQTT 3.1.1 has none: success)."""
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        assert info.rc == MQTTErrorCode.MQTT_ERR_SUCCESS, info.rc
        with self._acked:
            assert self._acked.wait_for(lambda: info.mid in self._pubacks, WAIT_S), f"no PUBACK for {topic}"
            return self._pubacks.pop(info.mid)

    def expect(self, topic: str, timeout_s: float = WAIT_S) -> mqtt.MQTTMessage:
        """The next message, which must be on ``topic``."""
        try:
            message = self.messages.get(timeout=timeout_s)
        except queue.Empty:
            pytest.fail(f"no message on {topic} within {timeout_s}s")
        assert message.topic == topic, f"expected a message on {topic}, got one on {message.topic}"
        return message

    def expect_nothing(self, within_s: float = 0.3) -> None:
        """No message arrives within ``within_s`` (use only where no later message can prove the absence)."""
        try:
            message = self.messages.get(timeout=within_s)
        except queue.Empty:
            return
        pytest.fail(f"unexpected message on {message.topic}: {message.payload[:80]!r}")

    def close(self) -> None:
        """Disconnect cleanly if connected and join the network thread."""
        self.client.disconnect()
        self.client.loop_stop()
