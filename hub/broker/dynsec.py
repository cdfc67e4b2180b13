"""Broker administration through mosquitto's dynamic-security plugin: enrol and decommission terminals.

The plugin takes JSON commands published to ``$CONTROL/dynamic-security/v1`` by an admin client and answers
every command on ``$CONTROL/dynamic-security/v1/response`` with the command's ``correlationData`` and, on
failure, an ``error`` text. :class:`DynSecAdmin` makes that a synchronous call with a timeout.

ACL design (sync spec, "Topic tree": a device publishes only under its own subtree, reads only its own
``down/`` and ``dist/``). mosquitto 2.0's plugin matches ACL topics as written: ``%u`` and ``%c`` are
substituted only in ``acl_file`` patterns, and in the plugin only from 2.1 on (eclipse-mosquitto/mosquitto
issues 2222 and 3191; 2.0.11's ``plugins/dynamic-security/acl.c`` has no substitution). So:

- ``gridpass-device``, one role shared by every terminal: subscribe to and receive ``gridpass/v1/dist/#``;
- ``gridpass-device-{dev}``, one role per terminal with the ``%u`` patterns below written out for ``{dev}``:
  publish under ``gridpass/v1/dev/{dev}/#``, subscribe to and receive ``gridpass/v1/dev/{dev}/down/#``;
- ``gridpass-hub``: subscribe to and receive every device's ``state`` and ``up/`` streams (also through a
  ``$share/`` group), publish every device's ``down/`` and ``dist/``;
- default access: publish, receive and subscribe denied where no ACL allows them (unsubscribing stays allowed).

A terminal's broker client is also pinned to MQTT client id = device id, so that one terminal cannot take over
another's session. Changing a client's password or roles, disabling or deleting it makes the broker drop its
live connections at once, without their last will (``mosquitto_kick_client_by_username(..., false)``).
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.reasoncodes import ReasonCode

from protocol import topics
from protocol.topics import ROOT

log = logging.getLogger(__name__)

CONTROL_TOPIC = "$CONTROL/dynamic-security/v1"
RESPONSE_TOPIC = f"{CONTROL_TOPIC}/response"
COMMAND_TIMEOUT_S = 5.0
"""How long a command (and the connection before it) may take before :class:`BrokerAdminError`."""
KEEPALIVE_S = 30
RECONNECT_MIN_S = 1
RECONNECT_MAX_S = 30

DEVICE_ROLE = "gridpass-device"
DEVICE_ROLE_PREFIX = "gridpass-device-"
HUB_ROLE = "gridpass-hub"

DEVICE_PUBLISH_PATTERN = f"{ROOT}/dev/%u/#"
"""What a device may publish to: its own subtree (``%u``: its user name, which is its device id)."""
DEVICE_READ_PATTERN = f"{ROOT}/dev/%u/down/#"
"""What a device may subscribe to and receive under its own subtree."""
DIST_FILTER = f"{ROOT}/dist/#"
"""Revocations and trust lists: every device reads them, the hub publishes them."""
HUB_DOWN_FILTER = f"{ROOT}/dev/+/down/#"
SHARED_PREFIX = "$share/+/"
"""Any share group: the subscribe ACL of mosquitto 2.0 sees the whole ``$share/{group}/...`` filter."""
SHARE_PROBE = "group"
"""Only to find which of the hub's filters go through a share group."""

ALLOW_SEND = "publishClientSend"
ALLOW_RECEIVE = "publishClientReceive"
ALLOW_SUBSCRIBE = "subscribePattern"
DEFAULT_DENIED = (ALLOW_SEND, ALLOW_RECEIVE, "subscribe")

NOT_FOUND = "Client not found"
CLIENT_EXISTS = "Client already exists"
ROLE_EXISTS = "Role already exists"
ROLE_NOT_FOUND = "Role not found"


class BrokerAdminError(RuntimeError):
    """The broker refused the admin connection or a command, or did not answer in time."""

    def __init__(self, message: str, *, command: str | None = None, error: str | None = None) -> None:
        super().__init__(message)
        self.command = command
        self.error = error
        """The plugin's error text, e.g. ``Client not found``."""


@dataclass(frozen=True, slots=True)
class BrokerClient:
    """One client (a broker user) of the dynamic-security plugin."""

    username: str
    roles: tuple[str, ...]
    disabled: bool
    client_id: str | None = None

    @property
    def is_device(self) -> bool:
        """Whether this user is an enrolled terminal."""
        return DEVICE_ROLE in self.roles


def _acl(acltype: str, topic: str) -> dict[str, Any]:
    return {"acltype": acltype, "topic": topic, "allow": True}


def device_acls(device: str) -> list[dict[str, Any]]:
    """The ACLs of the role of one device: the ``%u`` patterns written out for it."""
    dev = topics.check_device_id(device)
    read = DEVICE_READ_PATTERN.replace("%u", dev)
    return [
        _acl(ALLOW_SEND, DEVICE_PUBLISH_PATTERN.replace("%u", dev)),
        _acl(ALLOW_SUBSCRIBE, read),
        _acl(ALLOW_RECEIVE, read),
    ]


def shared_device_acls() -> list[dict[str, Any]]:
    """The ACLs every device has: reading ``dist/``."""
    return [_acl(ALLOW_SUBSCRIBE, DIST_FILTER), _acl(ALLOW_RECEIVE, DIST_FILTER)]


def hub_acls() -> list[dict[str, Any]]:
    """The hub's ACLs: read what ``hub_subscriptions`` names (also in any share group), publish down/ and dist/."""
    plain = topics.hub_subscriptions()
    shared = [f for f in topics.hub_subscriptions(SHARE_PROBE) if f not in plain]
    any_group = [SHARED_PREFIX + f.split("/", 2)[2] for f in shared]
    return [
        *(_acl(ALLOW_SUBSCRIBE, f) for f in [*plain, *any_group]),
        *(_acl(ALLOW_RECEIVE, f) for f in plain),
        _acl(ALLOW_SEND, HUB_DOWN_FILTER),
        _acl(ALLOW_SEND, DIST_FILTER),
    ]


def device_role(device: str) -> str:
    """The name of the role of one device."""
    return DEVICE_ROLE_PREFIX + topics.check_device_id(device)


class DynSecAdmin:
    """An admin connection to the dynamic-security plugin; each method is one synchronous exchange.

    Use as a context manager, or call :meth:`connect` and :meth:`close`. Thread-safe: commands from several
    threads are told apart by their correlation ids. paho reconnects by itself after a lost connection
    (not after a refusal); a command sent while disconnected fails with :class:`BrokerAdminError`.
    """

    def __init__(
        self,
        host: str,
        port: int,
        username: str,
        password: str,
        *,
        client_id: str | None = None,
        timeout_s: float = COMMAND_TIMEOUT_S,
    ) -> None:
        self._host, self._port, self._timeout_s = host, port, timeout_s
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id or f"gridpass-admin-{uuid.uuid4().hex[:12]}",
            protocol=MQTTProtocolVersion.MQTTv5,
        )
        self._client.username_pw_set(username, password)
        self._client.on_connect = self._handle_connect
        self._client.on_disconnect = self._handle_disconnect
        self._client.on_subscribe = self._handle_subscribe
        self._client.on_message = self._handle_message
        self._client.reconnect_delay_set(RECONNECT_MIN_S, RECONNECT_MAX_S)
        self._replies: dict[str, dict[str, Any] | None] = {}
        """Replies by correlation id; None while awaited."""
        self._replied = threading.Condition()
        self._ready = threading.Event()
        """Connected and subscribed to the replies: commands can go."""
        self._settled = threading.Event()
        """The broker answered the first connection, either way."""
        self._refused: str | None = None

    # --- connection -------------------------------------------------------------------------------------------

    def connect(self) -> None:
        """Connect, subscribe to the replies and return; :class:`BrokerAdminError` if refused or too slow."""
        try:
            self._client.connect(self._host, self._port, KEEPALIVE_S)
        except OSError as exc:
            raise BrokerAdminError(f"cannot reach the broker at {self._host}:{self._port}: {exc}") from exc
        self._client.loop_start()
        if not self._settled.wait(self._timeout_s) or self._refused is not None:
            reason = self._refused or f"no CONNACK and SUBACK within {self._timeout_s}s"
            self.close()
            raise BrokerAdminError(f"broker admin connection to {self._host}:{self._port} failed: {reason}")

    def close(self) -> None:
        """Disconnect and stop paho's network thread (joined)."""
        self._client.disconnect()
        self._client.loop_stop()

    def __enter__(self) -> DynSecAdmin:
        self.connect()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _handle_connect(self, client: mqtt.Client, _u: object, _f: object, rc: ReasonCode, _p: object) -> None:
        if rc.is_failure:
            log.error("broker refused the admin connection: %s", rc)
            self._refused = str(rc)
            client.disconnect()  # no retry with credentials that were refused
            self._settled.set()
            return
        result, _mid = client.subscribe(RESPONSE_TOPIC, qos=1)
        if result != MQTTErrorCode.MQTT_ERR_SUCCESS:
            log.error("cannot subscribe to %s: %s", RESPONSE_TOPIC, result)

    def _handle_disconnect(self, _c: mqtt.Client, _u: object, _f: object, rc: ReasonCode, _p: object) -> None:
        self._ready.clear()
        if self._refused is None:
            log.info("broker admin connection lost: %s", rc)

    def _handle_subscribe(self, client: mqtt.Client, _u: object, _m: int, codes: list[ReasonCode], _p: object) -> None:
        if codes and codes[0].is_failure:
            self._refused = f"subscription to {RESPONSE_TOPIC} refused: {codes[0]}"
            client.disconnect()
        else:
            self._ready.set()
        self._settled.set()

    def _handle_message(self, _c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        try:
            self._take_replies(message.payload)
        except Exception:  # the top of paho's loop: an exception here would stop the thread
            log.exception("cannot handle a dynamic-security reply: %r", message.payload[:200])

    def _take_replies(self, payload: bytes | bytearray) -> None:
        try:
            responses = json.loads(payload)["responses"]
        except (ValueError, KeyError, TypeError):
            log.warning("unreadable dynamic-security reply: %r", payload[:200])
            return
        with self._replied:
            for response in responses if isinstance(responses, list) else []:
                if not isinstance(response, dict):
                    continue
                correlation = response.get("correlationData")
                if isinstance(correlation, str) and correlation in self._replies:
                    self._replies[correlation] = response
                elif correlation is None and response.get("error"):
                    log.warning("dynamic-security error without correlation: %s", response["error"])
            self._replied.notify_all()

    # --- commands ---------------------------------------------------------------------------------------------

    def command(self, command: str, **fields: Any) -> dict[str, Any]:  # noqa: ANN401 - JSON values
        """Send one plugin command, wait for its reply and return it; a reply with an error raises."""
        if not self._ready.wait(self._timeout_s) or self._refused is not None:
            raise BrokerAdminError(f"{command}: not connected to the broker", command=command)
        correlation = uuid.uuid4().hex
        payload = json.dumps({"commands": [{"command": command, **fields, "correlationData": correlation}]})
        with self._replied:
            self._replies[correlation] = None
        try:
            info = self._client.publish(CONTROL_TOPIC, payload, qos=1)
            if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                raise BrokerAdminError(f"{command}: publish failed: {info.rc}", command=command)
            with self._replied:
                self._replied.wait_for(lambda: self._replies[correlation] is not None, self._timeout_s)
                reply = self._replies[correlation]
        finally:
            with self._replied:
                self._replies.pop(correlation, None)
        if reply is None:
            raise BrokerAdminError(f"{command}: no reply within {self._timeout_s}s", command=command)
        if error := reply.get("error"):
            raise BrokerAdminError(f"{command}: {error}", command=command, error=str(error))
        return reply

    def ensure_defaults(self) -> None:
        """Deny publishing, receiving and subscribing wherever no role allows it."""
        self.command("setDefaultACLAccess", acls=[{"acltype": t, "allow": False} for t in DEFAULT_DENIED])

    def _ensure_role(self, rolename: str, acls: list[dict[str, Any]]) -> None:
        try:
            self.command("createRole", rolename=rolename, acls=acls)
        except BrokerAdminError as exc:
            if exc.error != ROLE_EXISTS:
                raise
            self.command("modifyRole", rolename=rolename, acls=acls)  # replaces the ACLs; kicks nobody

    def ensure_device_role(self) -> None:
        """Create or correct the ``gridpass-device`` role shared by all terminals."""
        self._ensure_role(DEVICE_ROLE, shared_device_acls())

    def ensure_hub_role(self) -> None:
        """Create or correct the ``gridpass-hub`` role."""
        self._ensure_role(HUB_ROLE, hub_acls())

    def ensure_all(self) -> None:
        """Everything the hub needs of the broker before it enrols anyone (idempotent; run at hub start)."""
        self.ensure_defaults()
        self.ensure_device_role()
        self.ensure_hub_role()

    def get_client(self, username: str) -> BrokerClient | None:
        """One broker user, or None if there is none of that name."""
        try:
            reply = self.command("getClient", username=username)
        except BrokerAdminError as exc:
            if exc.error == NOT_FOUND:
                return None
            raise
        return _client_from_json(reply["data"]["client"])

    def list_clients(self) -> list[BrokerClient]:
        """Every broker user: devices, hub users and admins."""
        reply = self.command("listClients", verbose=True, count=-1, offset=0)
        return [_client_from_json(item) for item in reply["data"]["clients"]]

    def _upsert_client(self, username: str, password: str, roles: list[str], role: str, **extra: Any) -> None:  # noqa: ANN401
        if not password:
            raise BrokerAdminError(f"empty password for {username!r}")
        existing = self.get_client(username)
        role_list = [{"rolename": name} for name in roles]
        if existing is None:
            self.command("createClient", username=username, password=password, roles=role_list, **extra)
        elif role not in existing.roles:
            raise BrokerAdminError(f"broker user {username!r} exists and is not a {role} user", error=CLIENT_EXISTS)
        else:  # new password and roles; the broker drops the user's live connections
            self.command("modifyClient", username=username, password=password, roles=role_list, **extra)

    def enrol_device(self, device_id: str, password: str) -> None:
        """Let a terminal connect as ``device_id`` (also its client id) with ``password``; again: new password.

        Re-enrolling neither enables nor disables: a decommissioned terminal stays so until :meth:`enable_device`.
        """
        role = device_role(device_id)
        self._ensure_role(role, device_acls(device_id))
        self._upsert_client(device_id, password, [DEVICE_ROLE, role], DEVICE_ROLE, clientid=device_id)
        log.info("enrolled device %s on the broker", device_id)

    def _require_device(self, device_id: str) -> None:
        client = self.get_client(topics.check_device_id(device_id))
        if client is None:
            raise BrokerAdminError(f"no device {device_id!r} on the broker", error=NOT_FOUND)
        if not client.is_device:
            raise BrokerAdminError(f"broker user {device_id!r} is not a device")

    def decommission_device(self, device_id: str) -> None:
        """Refuse the terminal's connections from now on; the broker also drops its live connection."""
        self._require_device(device_id)
        self.command("disableClient", username=device_id)
        log.info("decommissioned device %s on the broker", device_id)

    def enable_device(self, device_id: str) -> None:
        """Let a decommissioned terminal connect again."""
        self._require_device(device_id)
        self.command("enableClient", username=device_id)
        log.info("enabled device %s on the broker", device_id)

    def delete_device(self, device_id: str) -> None:
        """Remove the terminal's broker user and role (idempotent)."""
        try:
            self._require_device(device_id)
        except BrokerAdminError as exc:
            if exc.error != NOT_FOUND:
                raise
        else:
            self.command("deleteClient", username=device_id)
        try:
            self.command("deleteRole", rolename=device_role(device_id))
        except BrokerAdminError as exc:
            if exc.error != ROLE_NOT_FOUND:
                raise
        log.info("deleted device %s from the broker", device_id)

    def create_hub_user(self, username: str, password: str) -> None:
        """A broker user with the ``gridpass-hub`` role; again: new password."""
        self._upsert_client(username, password, [HUB_ROLE], HUB_ROLE)
        log.info("hub broker user %s ready", username)


def _client_from_json(item: Mapping[str, Any]) -> BrokerClient:
    return BrokerClient(
        username=str(item["username"]),
        roles=tuple(str(role["rolename"]) for role in item.get("roles", [])),
        disabled=bool(item.get("disabled", False)),
        client_id=item.get("clientid"),
    )
