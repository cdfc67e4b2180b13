"""Against a real mosquitto with dynamic security: a terminal pre-authorised through the API connects with its
password; a command sent through the API reaches its down/cmd and its answer is stored; decommissioning through the
API drops its live connection and refuses the next one."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from hub.accounts.roles import Role
from hub.api.services import HubServices
from hub.app import DynSecPerCall, create_app
from hub.broker import DynSecAdmin
from hub.ingest import Ingest
from hub.mqtt.link import HubBrokerSettings, HubLink
from hub.storage.engine import create_engine
from hub.storage.migrate import upgrade
from protocol import topics
from protocol.messages import CommandResult, encode_result, parse_command
from tests.hub.api.conftest import WEB
from tests.hub.api.support import Clock, bearer, device_key_pem, make_user
from tests.services.mosquitto import MosquittoBroker, MqttProbe

DEVICE = "scanner-01"
DEVICE_PASSWORD = "scanner-01-broker-secret"
HUB_PASSWORD = "hub-broker-secret"
WAIT_S = 10.0
POLL_S = 0.05


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    made = create_engine(f"sqlite:///{tmp_path / 'hub.db'}")
    upgrade(made)
    yield made
    made.dispose()


@pytest.fixture
def link(broker: MosquittoBroker, engine: Engine) -> Iterator[tuple[HubLink, Ingest]]:
    with DynSecAdmin(broker.host, broker.port, broker.admin_user, broker.admin_password) as admin:
        admin.ensure_all()
        admin.create_hub_user("hub-1", HUB_PASSWORD)
    holder: list[HubLink] = []
    ingest = Ingest(engine, lambda t, d: bool(holder) and holder[0].publish(t, d), clock=time.time,
                    monotonic=time.monotonic)  # fmt: skip
    hub_link = HubLink(HubBrokerSettings(broker.host, broker.port, "hub-1", HUB_PASSWORD, client_id="hub-1"),
                       ingest.handle)  # fmt: skip
    holder.append(hub_link)
    hub_link.start()
    deadline = time.monotonic() + WAIT_S
    while not hub_link.connected and time.monotonic() < deadline:
        time.sleep(POLL_S)
    assert hub_link.connected
    yield hub_link, ingest
    hub_link.stop()


def test_command_reaches_the_device_and_decommission_kicks_it(
    broker: MosquittoBroker, engine: Engine, link: tuple[HubLink, Ingest]
) -> None:
    hub_link, ingest = link
    operator = bearer(make_user(engine, "operator", Role.OPERATOR))
    control = DynSecPerCall(broker.host, broker.port, broker.admin_user, broker.admin_password)
    app = create_app(WEB, HubServices(engine, Clock(time.time()), publisher=hub_link, broker=control, ingest=ingest))
    device: MqttProbe | None = None
    with TestClient(app) as client:
        body = {"id": DEVICE, "public_key_pem": device_key_pem(), "profile": "scanner",
                "broker_password": DEVICE_PASSWORD}  # fmt: skip
        made = client.post("/api/v1/devices", json=body, headers=operator)
        assert (made.status_code, made.json()["broker"]) == (201, "done")
        try:
            device = MqttProbe(broker, DEVICE, DEVICE_PASSWORD).connected()
            assert not device.subscribe(topics.down(DEVICE, topics.Down.CMD)).is_failure
            sent = client.post(f"/api/v1/devices/{DEVICE}/commands", json={"command": "sync_now"}, headers=operator)
            assert sent.status_code == 202
            assert sent.json()["published"] is True
            command = parse_command(bytes(device.expect(topics.down(DEVICE, topics.Down.CMD)).payload))
            assert command.id == sent.json()["id"]
            device.publish(topics.result(DEVICE), encode_result(CommandResult(command.id, ok=True, detail="synced")))
            deadline = time.monotonic() + WAIT_S
            stored = client.get(f"/api/v1/commands/{command.id}", headers=operator).json()
            while stored["result_ok"] is None and time.monotonic() < deadline:
                time.sleep(POLL_S)
                stored = client.get(f"/api/v1/commands/{command.id}", headers=operator).json()
            assert (stored["result_ok"], stored["result_detail"]) == (True, "synced")

            retired = client.post(f"/api/v1/devices/{DEVICE}/decommission", headers=operator)
            assert (retired.status_code, retired.json()["broker"]) == (200, "done")
            assert device.disconnected.wait(WAIT_S), "the broker did not drop the decommissioned device"
            device.close()
            refused = MqttProbe(broker, DEVICE, DEVICE_PASSWORD)
            device = refused
            assert refused.connect().is_failure
        finally:
            if device is not None:
                device.close()
        audit = client.get(f"/api/v1/audit?target=device:{DEVICE}", headers=operator).json()
    assert [(a["action"], a["outcome"]) for a in audit] == [
        ("device.broker_disable", "ok"),
        ("device.decommission", "ok"),
        ("command.send", "ok"),
        ("device.broker_enrol", "ok"),
        ("device.preauthorise", "ok"),
    ]


def test_a_broker_that_is_down_leaves_the_hub_side_done_and_says_so(engine: Engine) -> None:
    from tests.services.mosquitto import free_port

    operator = bearer(make_user(engine, "operator", Role.OPERATOR))
    control = DynSecPerCall("127.0.0.1", free_port(), "admin", "nothing-listens-here")
    app = create_app(WEB, HubServices(engine, Clock(), broker=control))
    with TestClient(app) as client:
        body = {"id": DEVICE, "public_key_pem": device_key_pem(), "profile": "scanner",
                "broker_password": DEVICE_PASSWORD}  # fmt: skip
        made = client.post("/api/v1/devices", json=body, headers=operator)
        assert made.status_code == 502
        assert made.json()["code"] == "broker"
        assert client.get(f"/api/v1/devices/{DEVICE}", headers=operator).json()["status"] == "enrolled"
        retired = client.post(f"/api/v1/devices/{DEVICE}/decommission", headers=operator)
        assert retired.status_code == 502
        assert client.get(f"/api/v1/devices/{DEVICE}", headers=operator).json()["status"] == "decommissioned"
        audit = client.get(f"/api/v1/audit?target=device:{DEVICE}", headers=operator).json()
    assert [(a["action"], a["outcome"]) for a in audit] == [
        ("device.broker_disable", "failed"),
        ("device.decommission", "ok"),
        ("device.broker_enrol", "failed"),
        ("device.preauthorise", "ok"),
    ]
