"""The harness itself: the network guard refuses non-loopback destinations and allows loopback."""

from __future__ import annotations

import socket

import pytest

from tests.conftest import NetworkGuardError


def test_guard_refuses_a_non_loopback_address() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock, pytest.raises(NetworkGuardError):
        sock.connect(("192.0.2.1", 9))  # TEST-NET-1: never routed, and never tried because the guard refuses


def test_guard_allows_loopback() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as client:
            client.connect(server.getsockname())
            conn, _ = server.accept()
            conn.close()
