"""Test harness for the whole tree: loopback-only network, no leaked threads, named fixtures."""

from __future__ import annotations

import ipaddress
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

pytest_plugins = ["tests.services.mosquitto", "tests.services.postgres"]

settings.register_profile("ci", max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=100, deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")

THREAD_GRACE_S = 2.0
"""How long a test's threads get to finish after it returns before the test is failed for leaking them."""


class NetworkGuardError(RuntimeError):
    """A test tried to reach beyond loopback."""


def _is_loopback(address: Any) -> bool:  # noqa: ANN401 - socket addresses are tuples, strings or bytes
    if isinstance(address, str | bytes):  # AF_UNIX path
        return True
    host = address[0] if isinstance(address, tuple) and address else address
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_sendto = socket.socket.sendto


def _guarded_connect(self: socket.socket, address: Any) -> None:  # noqa: ANN401
    if not _is_loopback(address):
        raise NetworkGuardError(f"tests may only connect to loopback, not {address!r}")
    _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: Any) -> int:  # noqa: ANN401
    if not _is_loopback(address):
        raise NetworkGuardError(f"tests may only connect to loopback, not {address!r}")
    return _real_connect_ex(self, address)


def _guarded_sendto(self: socket.socket, data: Any, *args: Any) -> int:  # noqa: ANN401
    address = args[-1]
    if not _is_loopback(address):
        raise NetworkGuardError(f"tests may only send to loopback, not {address!r}")
    return _real_sendto(self, data, *args)


@pytest.fixture(autouse=True, scope="session")
def loopback_only() -> Iterator[None]:
    """Every socket of the test process may reach 127.0.0.0/8, ::1 and Unix sockets, nothing else."""
    mp = pytest.MonkeyPatch()
    mp.setattr(socket.socket, "connect", _guarded_connect)
    mp.setattr(socket.socket, "connect_ex", _guarded_connect_ex)
    mp.setattr(socket.socket, "sendto", _guarded_sendto)
    yield
    mp.undo()


@pytest.fixture(autouse=True)
def no_leaked_threads() -> Iterator[None]:
    """Fail a test that leaves threads running after it (after a short grace period to let them finish)."""
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + THREAD_GRACE_S
    leaked: list[threading.Thread] = []
    while True:
        leaked = [t for t in threading.enumerate() if t not in before and t.is_alive()]
        if not leaked or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    if leaked:
        pytest.fail(f"test left threads running: {[t.name for t in leaked]}")


@pytest.fixture
def shared_dir() -> Path:
    """The read-only shared/ folder beside the repository (specs and conformance data)."""
    root = Path(os.environ.get("GRIDPASS_SHARED", Path(__file__).resolve().parents[2] / "shared"))
    if not (root / "spec").is_dir():
        pytest.fail(f"shared/ not found at {root}: clone it beside the repository or set GRIDPASS_SHARED")
    return root
