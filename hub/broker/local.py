"""A mosquitto of its own for one machine: the demo, the drills and the tests start one on a free loopback port.

``LocalBroker`` writes its config (``allow_anonymous false``, persistence, the dynamic-security plugin with only the
admin user of ``mosquitto_ctrl dynsec init``), starts ``/usr/sbin/mosquitto``, and can ``stop()`` (SIGTERM: it saves
its persistence), ``kill()`` (a power cut) and ``start()`` it again on the same port and persistence. A production
broker is configured by its operator instead (TLS listener, ``set_tcp_nodelay true``; see docs/operators.md).
"""

from __future__ import annotations

import getpass
import os
import random
import secrets
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

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
                port = random.randrange(PORT_LOW, low)  # noqa: S311 - a port, not a secret
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


@dataclass(frozen=True)
class TlsListener:
    """A TLS listener: where, and the server certificate and key (``hub/tls.py`` makes them)."""

    port: int
    cert: Path
    key: Path
    host: str = HOST


class LocalBroker:
    """One mosquitto process and the directory that holds its config, persistence, dynamic-security file and log."""

    def __init__(self, config_dir: Path, port: int, *, tls: TlsListener | None = None) -> None:
        self.host = HOST
        self.port = port
        self.tls = tls
        """A second listener with TLS (the plain one stays on loopback for local tools)."""
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
                raise BrokerStartError(f"{tool} is missing: install mosquitto (./scripts/demo and ./scripts/test do)")
        subprocess.run(  # noqa: S603 - fixed tool paths, arguments of our own
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
                    # As root, mosquitto would switch to the "mosquitto" user, which cannot enter a private directory.
                    f"user {getpass.getuser()}",
                    "persistence true",
                    f"persistence_location {self.config_dir / 'data'}/",
                    f"plugin {DYNSEC_PLUGIN}",
                    f"plugin_opt_config_file {self.dynsec_file}",
                    f"log_dest file {self.log_file}",
                    "log_type all",
                    "set_tcp_nodelay true",
                    # A hub worker briefly behind (a fleet reconnecting at once) must not lose messages: the default
                    # of 1000 queued per client dropped births and batches at 2,000 terminals (bench_fleet).
                    "max_queued_messages 100000",
                    "log_timestamp_format %H:%M:%S",
                    *self._tls_lines(),
                    "",
                ]
            )
        )

    def _tls_lines(self) -> list[str]:
        if self.tls is None:
            return []
        return [
            f"listener {self.tls.port} {self.tls.host}",
            f"certfile {self.tls.cert}",
            f"keyfile {self.tls.key}",
            "tls_version tlsv1.2",
        ]

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
            self._process = subprocess.Popen(  # noqa: S603 - fixed tool path, config of our own
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


def start_local_broker(directory: Path) -> LocalBroker:
    """A started broker in ``directory``, on a free port (another one if the first is taken meanwhile)."""
    error: BrokerStartError | None = None
    for attempt in range(START_ATTEMPTS):
        broker = LocalBroker(directory / f"attempt-{attempt}", free_port())
        try:
            broker.start()
        except BrokerStartError as exc:
            broker.kill()
            error = exc
            if "Address already in use" not in broker.log():
                break
        else:
            return broker
    raise BrokerStartError(f"mosquitto did not start: {error}")
