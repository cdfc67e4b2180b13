"""The terminal's MQTT link: the only module on the terminal that touches paho.

MQTT 5 with a fallback to 3.1.1 for brokers that refuse 5; ``CallbackAPIVersion.VERSION2``; a retained last will
(``offline`` with the boot id) set before every connect; the retained birth republished and every subscription
renewed on every connect; a clean stop published as ``stopped``; reconnects with capped exponential backoff; a broker
that refuses the credentials stops the retries (status ``refused``) instead of hammering it; a handler that raises
is logged and counted and never stops the network loop. Publishing while disconnected returns False: the outbox keeps
every record in the store and sends it again after the next connect, so nothing waits in paho's memory.
"""

from __future__ import annotations

import logging
import ssl
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from protocol.topics import state as state_topic

log = logging.getLogger(__name__)

RECONNECT_MIN_S = 1
RECONNECT_MAX_S = 60
KEEPALIVE_S = 30
SESSION_EXPIRY_S = 7 * 24 * 3600
"""The broker keeps the terminal's subscriptions and queued acks and commands this long while it is away."""
STOP_PUBLISH_TIMEOUT_S = 5.0
MAX_QUEUED = 1000
BAD_CREDENTIALS = {134, 135}  # bad user name or password, not authorized (3.1.1's 4 and 5 map onto these)
UNSUPPORTED_PROTOCOL = 132


class LinkStatus(StrEnum):
    """What the link is doing, for the terminal's status."""

    STARTING = "starting"
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    REFUSED = "refused"
    """The broker refused the credentials: retrying cannot help, the terminal must be re-provisioned."""
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class BrokerSettings:
    """Where the broker is and how to log in (the device id is the user name)."""

    host: str
    port: int
    username: str
    password: str
    ca_file: Path | None = None
    """The hub's CA certificate, pinned: with it the link uses TLS (required off loopback)."""
    keepalive_s: int = KEEPALIVE_S


class DeviceLink:
    """One terminal's connection to the broker."""

    def __init__(
        self,
        settings: BrokerSettings,
        *,
        will: bytes,
        birth: Callable[[], bytes],
        stopped: Callable[[], bytes],
        subscriptions: Sequence[str],
        on_message: Callable[[str, bytes], None],
        on_connected: Callable[[], None] | None = None,
        on_published: Callable[[], None] | None = None,
    ) -> None:
        self.settings = settings
        self._will, self._birth, self._stopped = will, birth, stopped
        self._subscriptions = list(subscriptions)
        self._on_message = on_message
        self._on_connected = on_connected
        self._on_published = on_published
        """Called (on paho's thread) when the broker acknowledged a message: the outbox may send the next chunk."""
        self.status = LinkStatus.STARTING
        self.detail = ""
        self.connects = 0
        self.handler_errors = 0
        self.protocol = MQTTProtocolVersion.MQTTv5
        self._lock = threading.Lock()
        self._last_publish: mqtt.MQTTMessageInfo | None = None
        self._client = self._make_client()

    def _make_client(self) -> mqtt.Client:
        v5 = self.protocol is MQTTProtocolVersion.MQTTv5
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.settings.username,
            protocol=self.protocol,
            clean_session=None if v5 else False,
        )
        client.username_pw_set(self.settings.username, self.settings.password)
        if self.settings.ca_file is not None:
            client.tls_set(ca_certs=str(self.settings.ca_file), tls_version=ssl.PROTOCOL_TLS_CLIENT)
        client.will_set(state_topic(self.settings.username), self._will, qos=1, retain=True)
        client.reconnect_delay_set(RECONNECT_MIN_S, RECONNECT_MAX_S)
        client.max_queued_messages_set(MAX_QUEUED)
        client.on_connect = self._handle_connect
        client.on_disconnect = self._handle_disconnect
        client.on_message = self._handle_message
        client.on_publish = self._handle_publish
        client.enable_logger(log)
        return client

    def start(self) -> None:
        """Connect in the background; reconnects by itself until stopped or refused."""
        properties = None
        if self.protocol is MQTTProtocolVersion.MQTTv5:
            properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            properties.SessionExpiryInterval = SESSION_EXPIRY_S
        self._client.connect_async(
            self.settings.host, self.settings.port, self.settings.keepalive_s, clean_start=False, properties=properties
        )
        self._client.loop_start()

    def maintain(self) -> None:
        """Called now and then by the sync thread: falls back to MQTT 3.1.1 when the broker refused version 5."""
        if self.detail != "fallback" or self.protocol is MQTTProtocolVersion.MQTTv311:
            return
        self._client.loop_stop()
        self.protocol = MQTTProtocolVersion.MQTTv311
        self.detail = ""
        self._client = self._make_client()
        self.start()

    @property
    def connected(self) -> bool:
        """Whether the broker accepted the connection and it is up."""
        return self.status is LinkStatus.CONNECTED and self._client.is_connected()

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> bool:
        """Publish at QoS 1; False when not connected (the caller sends again after reconnecting)."""
        if not self.connected:
            return False
        info = self._client.publish(topic, payload, qos=1, retain=retain)
        if info.rc is not MQTTErrorCode.MQTT_ERR_SUCCESS:
            return False
        self._last_publish = info
        return True

    def republish_birth(self) -> bool:
        """Publish the retained birth again, read fresh (what it reports changed, e.g. the lists held)."""
        return self.publish(state_topic(self.settings.username), self._birth(), retain=True)

    def settled(self) -> bool:
        """Whether the last message published has been acknowledged by the broker (QoS 1 PUBACK).

        QoS 1 messages leave in order, so this says nothing waits in paho's queue; the outbox sends the next image
        chunk only then, so a scan event published next waits behind one chunk at most. A reconnect forgets the
        last message (the outbox sends again from what the hub confirmed).
        """
        info = self._last_publish
        return info is None or info.is_published()

    def stop(self, *, clean: bool = True) -> None:
        """Leave: publish ``stopped`` (retained) first when ``clean``, so operators tell a reboot from a power cut."""
        if clean and self.connected:
            info = self._client.publish(state_topic(self.settings.username), self._stopped(), qos=1, retain=True)
            try:
                info.wait_for_publish(STOP_PUBLISH_TIMEOUT_S)
            except (RuntimeError, ValueError) as exc:
                log.warning("could not publish the clean stop: %s", exc)
        self._client.disconnect()
        self._client.loop_stop()
        self.status = LinkStatus.STOPPED

    # --- paho callbacks (network thread) ---------------------------------------------------------------------------

    def _handle_connect(
        self,
        client: mqtt.Client,
        _userdata: object,
        _flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        _properties: Properties | None,
    ) -> None:
        if reason_code.is_failure:
            code = int(reason_code.value)
            self.detail = str(reason_code)
            if code in BAD_CREDENTIALS:
                self.status = LinkStatus.REFUSED
                log.error("broker refused the terminal's credentials (%s): re-provision it; not retrying", reason_code)
                client.disconnect()
            elif code == UNSUPPORTED_PROTOCOL and self.protocol is MQTTProtocolVersion.MQTTv5:
                self.detail = "fallback"
                log.warning("broker does not speak MQTT 5; falling back to 3.1.1")
                client.disconnect()
            else:
                self.status = LinkStatus.DISCONNECTED
                log.warning("broker refused the connection: %s; retrying", reason_code)
            return
        self.status = LinkStatus.CONNECTED
        self.detail = ""
        self.connects += 1
        self._last_publish = None
        client.publish(state_topic(self.settings.username), self._birth(), qos=1, retain=True)
        for topic in self._subscriptions:
            client.subscribe(topic, qos=1)
        if self._on_connected is not None:
            self._isolated(self._on_connected)
        log.info("connected to %s:%s (connect #%d)", self.settings.host, self.settings.port, self.connects)

    def _handle_disconnect(
        self,
        _client: mqtt.Client,
        _userdata: object,
        _flags: mqtt.DisconnectFlags,
        reason_code: ReasonCode,
        _properties: Properties | None,
    ) -> None:
        if self.status is LinkStatus.CONNECTED:
            log.warning("disconnected from the broker: %s", reason_code)
        if self.status not in (LinkStatus.REFUSED, LinkStatus.STOPPED):
            self.status = LinkStatus.DISCONNECTED

    def _handle_publish(
        self,
        _client: mqtt.Client,
        _userdata: object,
        _mid: int,
        _reason_code: ReasonCode,
        _properties: Properties | None,
    ) -> None:
        if self._on_published is not None:
            self._isolated(self._on_published)

    def _handle_message(self, _client: mqtt.Client, _userdata: object, message: mqtt.MQTTMessage) -> None:
        self._isolated(lambda: self._on_message(message.topic, bytes(message.payload)))

    def _isolated(self, handler: Callable[[], None]) -> None:
        try:
            handler()
        except Exception:
            self.handler_errors += 1
            log.exception("a message handler failed")
