"""The fleet through the API: pre-authorise (idempotent, 409 on another key), pending and approve, inventory with
presence, edits, decommission (the hub refuses the device at once), and the audit row of each."""

from __future__ import annotations

import time

from cryptography.hazmat.primitives.asymmetric import ed25519

from hub.accounts.roles import Role
from hub.ingest import Ingest
from hub.storage.devices import enrolled_key
from hub.storage.ingest import refusal_counts
from protocol import topics
from protocol.messages import DeviceState, StateMessage, seal_state
from tests.hub.api.conftest import Hub
from tests.hub.api.support import bearer, device_key_pem

DEVICE = "scanner-01"


def _create(hub: Hub, pem: str, **extra: object) -> tuple[int, dict[str, object]]:
    body = {"id": DEVICE, "public_key_pem": pem, "profile": "scanner", "site": "PD-01", **extra}
    response = hub.client.post("/api/v1/devices", json=body, headers=bearer(hub.tokens[Role.OPERATOR]))
    return response.status_code, response.json()


def test_preauthorise_is_idempotent_for_one_key_and_a_conflict_for_another(hub: Hub) -> None:
    pem = device_key_pem()
    status, body = _create(hub, pem)
    assert status == 201
    assert body["status"] == "enrolled"
    assert body["site"] == "PD-01"
    assert body["public_key_pem"] == pem
    assert body["broker"] == "skipped"
    again, body = _create(hub, pem)
    assert (again, body["status"]) == (200, "enrolled")
    status, problem = _create(hub, device_key_pem())
    assert status == 409
    assert problem["code"] == "conflict"
    assert "another key" in str(problem["detail"])


def test_a_broker_password_without_a_broker_admin_says_so(hub: Hub) -> None:
    assert _create(hub, device_key_pem(), broker_password="p" * 24)[1]["broker"] == "not_configured"


def test_a_key_that_is_not_ed25519_or_not_pem_is_refused(hub: Hub) -> None:
    from protocol.keys import Alg, generate_private_key, public_key_pem

    status, problem = _create(hub, public_key_pem(generate_private_key(Alg.ES256).public_key()).decode())
    assert status == 422
    assert problem["detail"] == "device keys are Ed25519"
    assert _create(hub, "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")[0] == 422
    assert hub.client.get("/api/v1/devices", headers=bearer(hub.tokens[Role.VIEWER])).json() == []


def test_a_pending_request_is_approved_by_an_operator(hub: Hub) -> None:
    status, body = _create(hub, device_key_pem(), approved=False)
    assert (status, body["status"]) == (201, "pending")
    assert enrolled_key(hub.engine, DEVICE) is None
    operator = bearer(hub.tokens[Role.OPERATOR])
    pending = hub.client.get("/api/v1/devices?status=pending", headers=operator).json()
    assert [d["id"] for d in pending] == [DEVICE]
    approved = hub.client.post(f"/api/v1/devices/{DEVICE}/approve", headers=operator)
    assert approved.json()["status"] == "enrolled"
    assert enrolled_key(hub.engine, DEVICE) is not None
    assert hub.client.post("/api/v1/devices/nobody/approve", headers=operator).status_code == 404


def test_inventory_shows_presence_from_the_birth(hub: Hub) -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    from protocol.keys import public_key_pem

    assert _create(hub, public_key_pem(key.public_key()).decode())[0] == 201
    ingest = Ingest(hub.engine, lambda _t, _d: True, clock=hub.clock, monotonic=time.monotonic)
    info = {
        "fw": "1.2.3", "backlog": {"events": 7}, "lists": {"trust": 3, "revocations": {"CN-SH-PD": 12}},
        "clock": {"source": "ntp"}, "storage": {"db_bytes": 4096},
    }  # fmt: skip
    state = StateMessage(DEVICE, DeviceState.ONLINE, b"\x01" * 16, hub.clock.now, info)
    ingest.handle(topics.state(DEVICE), seal_state(state, key))
    device = hub.client.get(f"/api/v1/devices/{DEVICE}", headers=bearer(hub.tokens[Role.VIEWER])).json()
    presence = device["presence"]
    assert presence["connected"] is True
    assert presence["state"] == "online"
    assert presence["firmware"] == "1.2.3"
    assert presence["backlog"] == {"events": 7}
    assert presence["storage"] == {"db_bytes": 4096}
    assert presence["lists"]["revocations"] == {"CN-SH-PD": 12}
    lists = hub.client.get("/api/v1/lists", headers=bearer(hub.tokens[Role.VIEWER])).json()
    assert lists == {"hub": [], "terminals": [{"device_id": DEVICE, "lists": info["lists"]}]}


def test_an_edit_changes_site_and_grid_cell_only(hub: Hub) -> None:
    _create(hub, device_key_pem())
    operator = bearer(hub.tokens[Role.OPERATOR])
    changed = hub.client.patch(f"/api/v1/devices/{DEVICE}", json={"grid_cell": "G-7", "site": None}, headers=operator)
    assert (changed.json()["grid_cell"], changed.json()["site"]) == ("G-7", None)
    refused = hub.client.patch(f"/api/v1/devices/{DEVICE}", json={"status": "enrolled"}, headers=operator)
    assert refused.status_code == 422


def test_decommission_makes_the_hub_refuse_the_device_at_once(hub: Hub) -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    from protocol.keys import public_key_pem

    _create(hub, public_key_pem(key.public_key()).decode())
    operator = bearer(hub.tokens[Role.OPERATOR])
    retired = hub.client.post(f"/api/v1/devices/{DEVICE}/decommission", headers=operator)
    assert retired.status_code == 200
    assert retired.json()["status"] == "decommissioned"
    assert retired.json()["decommissioned_at"] == hub.clock.now
    assert retired.json()["broker"] == "not_configured"
    ingest = Ingest(hub.engine, lambda _t, _d: True, clock=hub.clock, monotonic=time.monotonic)
    state = StateMessage(DEVICE, DeviceState.ONLINE, b"\x01" * 16, hub.clock.now, {})
    ingest.handle(topics.state(DEVICE), seal_state(state, key))
    assert ingest.refusals["unknown_device"] == 1
    assert any(r.reason == "unknown_device" and r.device_id == DEVICE for r in refusal_counts(hub.engine))
    assert _create(hub, public_key_pem(key.public_key()).decode())[0] == 409  # the id is retired for good
    audit = hub.client.get(f"/api/v1/audit?target=device:{DEVICE}", headers=operator).json()
    assert [(a["action"], a["outcome"], a["actor"]) for a in audit] == [
        ("device.preauthorise", "refused", "operator"),
        ("device.decommission", "ok", "operator"),
        ("device.preauthorise", "ok", "operator"),
    ]
    assert audit[1]["client"] == "testclient"
