"""Config push through the API: an operator pushes, the payload is signed for the device and published retained, a
viewer may read but not push, a hub without a signing key says so, and the terminal's answer shows on the version."""

from __future__ import annotations

import time
from pathlib import Path

from fastapi.testclient import TestClient

from hub.accounts.roles import Role
from hub.api.services import HubServices
from hub.app import create_app
from hub.config_signer import ConfigSigner
from hub.ingest import Ingest
from protocol import topics
from protocol.device_config import make_delegation, open_device_config
from protocol.keys import Alg, generate_private_key, private_key_pem
from protocol.messages import CommandResult, encode_result
from tests.hub.api.conftest import WEB, Hub
from tests.hub.api.support import bearer, device_key_pem

DEVICE = "scanner-01"
ROOT = generate_private_key(Alg.EDDSA)
HUB_KEY = generate_private_key(Alg.EDDSA)


def signer(tmp_path: Path, now: float) -> ConfigSigner:
    (tmp_path / "hub.key.pem").write_bytes(private_key_pem(HUB_KEY))
    (tmp_path / "delegation").write_bytes(
        make_delegation(ROOT, "hub-1", HUB_KEY.public_key(), nbf=int(now) - 60, exp=int(now) + 86400)
    )
    return ConfigSigner.load(tmp_path / "hub.key.pem", tmp_path / "delegation", ROOT.public_key(), now=now)


def with_signer(hub: Hub, tmp_path: Path) -> TestClient:
    services = HubServices(hub.engine, hub.clock, publisher=hub.publisher, config_signer=signer(tmp_path, hub.clock()))
    return TestClient(create_app(WEB, services))


def enrol(hub: Hub) -> None:
    body = {"id": DEVICE, "public_key_pem": device_key_pem(), "profile": "scanner"}
    assert hub.client.post("/api/v1/devices", json=body, headers=bearer(hub.tokens[Role.OPERATOR])).status_code == 201


def test_an_operator_pushes_and_the_answer_is_kept(hub: Hub, tmp_path: Path) -> None:
    enrol(hub)
    client = with_signer(hub, tmp_path)
    settings = {"scan": {"hold_off_s": 4.0}}
    pushed = client.put(
        f"/api/v1/devices/{DEVICE}/config", json={"settings": settings}, headers=bearer(hub.tokens[Role.OPERATOR])
    )
    assert pushed.status_code == 202, pushed.text
    body = pushed.json()
    assert (body["version"], body["answer"], body["created_by"]) == (1, "waiting", "operator")
    [(topic, payload, retain)] = hub.publisher.sent
    assert (topic, retain) == (topics.down(DEVICE, topics.Down.CONFIG), True)
    assert open_device_config(payload, ROOT.public_key(), device=DEVICE).settings == settings
    ingest = Ingest(hub.engine, lambda _t, _d: True, clock=hub.clock, monotonic=time.monotonic)
    ingest.handle(topics.result(DEVICE), encode_result(CommandResult("config:1", ok=True, detail="taken")))
    viewer = bearer(hub.tokens[Role.VIEWER])
    current = client.get(f"/api/v1/devices/{DEVICE}/config", headers=viewer).json()
    assert (current["version"], current["answer"], current["answer_detail"]) == (1, "taken", "taken")
    assert [v["version"] for v in client.get(f"/api/v1/devices/{DEVICE}/configs", headers=viewer).json()] == [1]


def test_a_viewer_cannot_push_and_a_hub_without_a_key_says_so(hub: Hub, tmp_path: Path) -> None:
    enrol(hub)
    body = {"settings": {"scan": {"hold_off_s": 4.0}}}
    client = with_signer(hub, tmp_path)
    refused = client.put(f"/api/v1/devices/{DEVICE}/config", json=body, headers=bearer(hub.tokens[Role.VIEWER]))
    assert refused.status_code == 403
    keyless = hub.client.put(f"/api/v1/devices/{DEVICE}/config", json=body, headers=bearer(hub.tokens[Role.OPERATOR]))
    assert keyless.status_code == 422
    assert "config_push" in keyless.json()["detail"]
    missing = hub.client.get(f"/api/v1/devices/{DEVICE}/config", headers=bearer(hub.tokens[Role.VIEWER]))
    assert missing.status_code == 404
    nested = client.put(
        f"/api/v1/devices/{DEVICE}/config", json={"settings": {"scan": {"x": {"y": 1}}}},
        headers=bearer(hub.tokens[Role.OPERATOR]),
    )  # fmt: skip
    assert nested.status_code == 422
    assert hub.publisher.sent == []
