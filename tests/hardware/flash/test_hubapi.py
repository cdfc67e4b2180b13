"""The enrolment client against the hub's real API app, served by uvicorn over TLS with the site CA on loopback:
the pinned CA is trusted and no other, and each answer of the contract becomes the right outcome."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from sqlalchemy.engine import Engine

from hardware.flash.errors import HubConflictError, HubError, HubUnreachableError
from hardware.flash.hubapi import EnrolRequest, HubApi
from hub.accounts.roles import Role
from hub.api.services import HubServices
from hub.app import create_app
from hub.config import WebSection
from hub.operations.audit import Actor
from hub.operations.auth import create_token
from hub.operations.users import create_user
from hub.storage.devices import list_devices
from hub.storage.engine import create_engine
from hub.storage.migrate import upgrade
from hub.tls import make_ca, make_server_cert
from protocol.keys import Alg, generate_private_key, public_key_pem
from tests.integration.rig import wait_for
from tests.services.mosquitto import free_port

STOP_S = 10.0


@dataclass(frozen=True)
class TlsHub:
    """The hub's API over TLS, its CA, and an operator's token."""

    url: str
    ca: Path
    token: str
    engine: Engine


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[TlsHub]:
    """The API app on 127.0.0.1 with a certificate of the site CA; stopped and joined at teardown."""
    engine = create_engine(f"sqlite:///{tmp_path / 'hub.db'}")
    upgrade(engine)
    admin = Actor("cli:test", Role.ADMIN, "local")
    create_user(engine, admin, "tech", Role.OPERATOR, "correct horse battery staple", now=time.time())
    token = create_token(engine, Actor("tech", Role.OPERATOR, "local"), "flashing", now=time.time()).secret
    tls = tmp_path / "tls"
    make_ca(tls, "SH-PD")
    files = make_server_cert(tls, ["127.0.0.1"])
    port = free_port()
    app = create_app(WebSection(cookie_secure=False), HubServices(engine, time.time))
    server = uvicorn.Server(uvicorn.Config(
        app, host="127.0.0.1", port=port, ssl_certfile=str(files.cert), ssl_keyfile=str(files.key),
        log_config=None, access_log=False,
    ))  # fmt: skip
    thread = threading.Thread(target=server.run, name="tls-hub")
    thread.start()
    try:
        wait_for(lambda: bool(server.started), "the hub API listens")
        yield TlsHub(f"https://127.0.0.1:{port}", tls / "ca.pem", token, engine)
    finally:
        server.should_exit = True
        thread.join(STOP_S)
        engine.dispose()


def request(device_id: str = "scanner-01") -> EnrolRequest:
    """A request with a fresh key."""
    key = generate_private_key(Alg.EDDSA)
    return EnrolRequest(device_id, public_key_pem(key.public_key()).decode(), "scanner", "SH-PD-1", "", "p" * 32)


def test_the_pinned_ca_is_trusted_and_the_same_request_twice_makes_one_device(hub: TlsHub) -> None:
    first = request()
    with HubApi(hub.url, hub.token, ca_file=hub.ca) as api:
        api.enrol(first)
        api.enrol(first)
    devices = list_devices(hub.engine)
    assert [(d.id, d.site, d.grid_cell) for d in devices] == [("scanner-01", "SH-PD-1", None)]


def test_another_key_under_the_same_id_is_a_conflict(hub: TlsHub) -> None:
    with HubApi(hub.url, hub.token, ca_file=hub.ca) as api:
        api.enrol(request())
        with pytest.raises(HubConflictError, match="already has device scanner-01 with another key"):
            api.enrol(request())


def test_a_hub_that_does_not_prove_itself_with_the_pinned_ca_is_refused_not_queued(hub: TlsHub, tmp_path: Path) -> None:
    other = tmp_path / "other"
    make_ca(other, "ELSEWHERE")
    with HubApi(hub.url, hub.token, ca_file=other / "ca.pem") as api, pytest.raises(HubError) as refused:
        api.enrol(request())
    assert not isinstance(refused.value, HubUnreachableError)
    assert "did not prove itself" in str(refused.value)
    with HubApi(hub.url, hub.token) as api, pytest.raises(HubError, match="did not prove itself"):
        api.enrol(request())  # the system's CAs do not vouch for a site CA
    assert list_devices(hub.engine) == []


def test_a_wrong_token_and_a_bad_request_are_plain_refusals(hub: TlsHub) -> None:
    with HubApi(hub.url, "gph_wrong", ca_file=hub.ca) as api, pytest.raises(HubError, match="refused the token"):
        api.enrol(request())
    bad = EnrolRequest("scanner-02", "not a key", "scanner", "SH-PD-1", "", "p" * 32)
    with HubApi(hub.url, hub.token, ca_file=hub.ca) as api, pytest.raises(HubError) as refused:
        api.enrol(bad)
    assert not isinstance(refused.value, HubUnreachableError)
    assert "refused the enrolment of scanner-02" in str(refused.value)


def test_nobody_listening_is_unreachable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        with HubApi(f"http://127.0.0.1:{port}", "t") as api, pytest.raises(HubUnreachableError):
            api.enrol(request())


def test_an_address_without_a_scheme_is_refused() -> None:
    with pytest.raises(HubError, match="must start with https://"):
        HubApi("hub.example:8443", "t")
