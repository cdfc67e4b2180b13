"""``WebServer``: uvicorn in a thread of the worker's process, listening on its port, stopped on request."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from hub.api.services import HubServices
from hub.app import WebServer, create_app
from hub.storage.engine import create_engine
from hub.storage.migrate import upgrade
from tests.hub.api.conftest import WEB
from tests.hub.api.support import Clock
from tests.services.mosquitto import free_port

WAIT_S = 10.0
POLL_S = 0.05


def test_the_server_serves_and_stops(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'hub.db'}")
    upgrade(engine)
    port = free_port()
    server = WebServer(create_app(WEB, HubServices(engine, Clock())), "127.0.0.1", port)
    server.start()
    try:
        deadline = time.monotonic() + WAIT_S
        while not server.started and time.monotonic() < deadline:
            time.sleep(POLL_S)
        assert server.started
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=WAIT_S).json()["database"] == "ok"
        assert httpx.get(f"http://127.0.0.1:{port}/api/v1/devices", timeout=WAIT_S).status_code == 401
    finally:
        server.stop()
        engine.dispose()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=WAIT_S)


def test_a_worker_with_a_web_section_serves_its_app(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.asymmetric import ed25519

    from hub.app import serve_worker
    from hub.config import validate
    from hub.worker import build
    from protocol.keys import public_key_pem

    (tmp_path / "root.pub.pem").write_bytes(public_key_pem(ed25519.Ed25519PrivateKey.generate().public_key()))
    (tmp_path / "hub.pass").write_text("secret")
    port = free_port()
    config = validate({
        "database": {"url": f"sqlite:///{tmp_path / 'hub.db'}"},
        "broker": {"port": free_port(), "password_file": str(tmp_path / "hub.pass")},
        "lists": {"root_key": str(tmp_path / "root.pub.pem")},
        "web": {"port": port, "cookie_secure": False},
    })  # fmt: skip
    worker = build(config)
    server = serve_worker(worker)
    try:
        deadline = time.monotonic() + WAIT_S
        while not server.started and time.monotonic() < deadline:
            time.sleep(POLL_S)
        health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=WAIT_S).json()
        assert health == {"status": "ok", "database": "ok", "broker": "disconnected"}
    finally:
        server.stop()
        worker.ingest.target.dispose()  # type: ignore[union-attr]
