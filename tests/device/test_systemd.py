"""The notify protocol against a real unix datagram socket standing in for systemd."""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from device.camera.synthetic import Presentation
from device.clock import FakeClock
from device.systemd import Notifier, watchdog_interval_s
from tests.device.test_app import NOW, make_app

RECEIVE_TIMEOUT_S = 5.0
MAX_MESSAGES = 100


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    """A datagram socket bound at a path, as systemd's notify socket."""
    path = tmp_path / "notify"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        sock.settimeout(RECEIVE_TIMEOUT_S)
        yield sock, str(path)


def test_ready_status_watchdog_stopping_reach_the_socket(listener: tuple[socket.socket, str]) -> None:
    sock, path = listener
    notifier = Notifier.from_environment({"NOTIFY_SOCKET": path})
    assert notifier.enabled
    assert notifier.ready("scanning\nat gate 3")
    assert sock.recv(4096) == b"READY=1\nSTATUS=scanning at gate 3"
    assert notifier.status("3 events behind")
    assert sock.recv(4096) == b"STATUS=3 events behind"
    assert notifier.watchdog()
    assert sock.recv(4096) == b"WATCHDOG=1"
    assert notifier.stopping()
    assert sock.recv(4096) == b"STOPPING=1"


def test_the_abstract_namespace_is_reached_through_an_at_sign() -> None:
    name = f"gridpass-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(RECEIVE_TIMEOUT_S)
        assert Notifier(f"@{name}").ready()
        assert sock.recv(4096) == b"READY=1"


def test_tick_pings_once_per_interval(listener: tuple[socket.socket, str]) -> None:
    sock, path = listener
    notifier = Notifier.from_environment({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "20000000"})
    assert notifier.watchdog_s == 10.0
    sent = [t for t in (0.0, 1.0, 9.9, 10.0, 15.0, 20.5) if notifier.tick(t)]
    assert sent == [0.0, 10.0, 20.5]
    assert [sock.recv(4096) for _ in sent] == [b"WATCHDOG=1"] * 3


def test_without_systemd_nothing_is_sent_and_nothing_fails() -> None:
    notifier = Notifier.from_environment({})
    assert not notifier.enabled
    assert not notifier.ready()
    assert not notifier.tick(0.0)
    assert notifier.failures == 0


def test_a_vanished_socket_is_counted_not_raised(tmp_path: Path) -> None:
    notifier = Notifier(str(tmp_path / "gone"))
    assert not notifier.watchdog()
    assert notifier.failures == 1


def test_watchdog_belongs_to_the_named_pid_only() -> None:
    assert watchdog_interval_s({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}) == 15.0
    assert watchdog_interval_s({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid() + 1)}) is None
    assert watchdog_interval_s({"WATCHDOG_USEC": "0"}) is None
    assert watchdog_interval_s({"WATCHDOG_USEC": "-5"}) is None


@given(address=st.text(max_size=200), usec=st.text(max_size=30), pid=st.text(max_size=10))
def test_any_environment_gives_a_notifier_or_none(address: str, usec: str, pid: str) -> None:
    env = {"NOTIFY_SOCKET": address, "WATCHDOG_USEC": usec, "WATCHDOG_PID": pid}
    notifier = Notifier.from_environment(env)
    assert notifier.watchdog_s is None or notifier.watchdog_s > 0
    assert notifier.address is None or notifier.address.startswith(("/", "\0"))


def test_the_terminals_run_loop_reports_ready_pings_and_stopping(
    tmp_path: Path, listener: tuple[socket.socket, str]
) -> None:

    sock, path = listener
    clock = FakeClock(now=float(NOW))
    app, _indicator, _gate = make_app(tmp_path, [Presentation("not a pass", frames=3)], clock)
    app.notifier = Notifier(path, watchdog_s=15.0)
    stop = threading.Event()
    runner = threading.Thread(target=app.run, args=(stop,), name="terminal")
    runner.start()
    try:
        assert sock.recv(4096) == b"READY=1\nSTATUS=scanner scanner-01"
        assert sock.recv(4096) == b"WATCHDOG=1"
    finally:
        stop.set()
        runner.join(timeout=30)
    assert not runner.is_alive()
    last = b""
    for _ in range(MAX_MESSAGES):  # watchdog pings may come first; STOPPING is the last word
        last = sock.recv(4096)
        if last == b"STOPPING=1":
            break
    assert last == b"STOPPING=1"
