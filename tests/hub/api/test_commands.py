"""Commands through the API: stored, published on the device's down/cmd with their correlation id, results kept
from the device's own answer only; refused for devices that cannot take them."""

from __future__ import annotations

import time

from hub.accounts.roles import Role
from hub.ingest import Ingest
from protocol import topics
from protocol.messages import Command, CommandResult, encode_result, parse_command
from tests.hub.api.conftest import Hub
from tests.hub.api.support import bearer, device_key_pem

DEVICE = "scanner-01"


def _enrol(hub: Hub, device: str = DEVICE) -> None:
    body = {"id": device, "public_key_pem": device_key_pem(), "profile": "scanner"}
    assert hub.client.post("/api/v1/devices", json=body, headers=bearer(hub.tokens[Role.OPERATOR])).status_code == 201


def _send(hub: Hub, body: dict[str, object], device: str = DEVICE) -> tuple[int, dict[str, object]]:
    response = hub.client.post(
        f"/api/v1/devices/{device}/commands", json=body, headers=bearer(hub.tokens[Role.OPERATOR])
    )
    return response.status_code, response.json()


def test_a_command_is_published_and_its_result_kept(hub: Hub) -> None:
    _enrol(hub)
    status, body = _send(hub, {"command": "resend", "args": {"stream": "events", "from": 3, "to": 9}, "ttl_s": 60})
    assert status == 202
    assert body["published"] is True
    assert body["result_ok"] is None
    assert body["created_by"] == "operator"
    [(topic, payload, retain)] = hub.publisher.sent
    assert topic == topics.down(DEVICE, topics.Down.CMD)
    assert not retain
    message = parse_command(payload)
    assert (message.id, message.command, message.args) == (body["id"], Command.RESEND, {"stream": "events", "from": 3,
                                                                                         "to": 9})  # fmt: skip
    assert message.expires == hub.clock.now + 60
    ingest = Ingest(hub.engine, lambda _t, _d: True, clock=hub.clock, monotonic=time.monotonic)
    ingest.handle(
        topics.result("scanner-02"), encode_result(CommandResult(str(body["id"]), ok=False, detail="not mine"))
    )
    ingest.handle(topics.result(DEVICE), encode_result(CommandResult(str(body["id"]), ok=True, detail="resending 7")))
    ingest.handle(topics.result(DEVICE), encode_result(CommandResult(str(body["id"]), ok=False, detail="again")))
    assert ingest.refusals["unknown_device"] == 1  # scanner-02 is not enrolled
    assert ingest.refusals["unknown_result"] == 1  # a second answer does not replace the first
    viewer = bearer(hub.tokens[Role.VIEWER])
    stored = hub.client.get(f"/api/v1/commands/{body['id']}", headers=viewer).json()
    assert (stored["result_ok"], stored["result_detail"], stored["result_at"]) == (True, "resending 7", hub.clock.now)
    assert [c["id"] for c in hub.client.get(f"/api/v1/devices/{DEVICE}/commands", headers=viewer).json()] == [
        body["id"]
    ]


def test_an_answer_from_another_device_is_not_kept(hub: Hub) -> None:
    _enrol(hub)
    _enrol(hub, "scanner-02")
    _, body = _send(hub, {"command": "sync_now"})
    ingest = Ingest(hub.engine, lambda _t, _d: True, clock=hub.clock, monotonic=time.monotonic)
    ingest.handle(topics.result("scanner-02"), encode_result(CommandResult(str(body["id"]), ok=True, detail="")))
    assert ingest.refusals["unknown_result"] == 1
    stored = hub.client.get(f"/api/v1/commands/{body['id']}", headers=bearer(hub.tokens[Role.VIEWER])).json()
    assert stored["result_ok"] is None


def test_without_a_broker_connection_the_command_is_stored_unpublished(hub: Hub) -> None:
    _enrol(hub)
    hub.publisher.connected = False
    status, body = _send(hub, {"command": "reboot"})
    assert (status, body["published"]) == (202, False)
    assert hub.publisher.sent == []


def test_commands_are_refused_for_unknown_pending_and_retired_devices(hub: Hub) -> None:
    assert _send(hub, {"command": "sync_now"}, "nobody")[0] == 404
    _enrol(hub)
    operator = bearer(hub.tokens[Role.OPERATOR])
    hub.client.post(f"/api/v1/devices/{DEVICE}/decommission", headers=operator)
    status, problem = _send(hub, {"command": "sync_now"})
    assert (status, problem["code"]) == (409, "conflict")
    assert hub.publisher.sent == []


def test_bad_commands_and_arguments_are_refused(hub: Hub) -> None:
    _enrol(hub)
    assert _send(hub, {"command": "format_disk"})[0] == 422
    assert _send(hub, {"command": "resend", "args": {"k": {"nested": 1}}})[0] == 422
    assert _send(hub, {"command": "resend", "args": {f"k{i}": i for i in range(9)}})[0] == 422
    assert _send(hub, {"command": "resend", "args": {"k": "x" * 257}})[0] == 422
    assert _send(hub, {"command": "resend", "ttl_s": 0})[0] == 422
    assert hub.publisher.sent == []
