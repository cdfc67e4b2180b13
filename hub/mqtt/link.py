"""The hub's MQTT link: the only module on the hub that touches paho.

MQTT 5, ``CallbackAPIVersion.VERSION2``; subscriptions renewed on every connect (devices' state and results plainly,
their up streams through an MQTT 5 shared subscription when several hub workers split the load); reconnects with
capped backoff; refused credentials stop the retries; a handler that raises is logged and counted, never fatal.
Messages are handed to ``on_message`` on paho's thread; the ingest decides what to do with them.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from protocol.topics import hub_subscriptions

log = logging.getLogger(__name__)

RECONNECT_MIN_S = 1
RECONNECT_MAX_S = 30
KEEPALIVE_S = 30
BAD_CREDENTIALS = {134, 135}


class HubLinkStatus(StrEnum):
    """What the link is doing."""

    STARTING = "starting"
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    REFUSED = "refused"
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class HubBrokerSettings:
    """The broker and the hub worker's credentials."""

    host: str
    port: int
    username: str
    password: str
    client_id: str
    """Unique per hub worker (e.g. ``hub-1``, ``hub-2``)."""
    share_group: str | None = None
    """Set when several workers share the up streams (MQTT 5 shared subscription)."""
    ca_file: Path | None = None


class HubLink:
    """One hub worker's connection to the broker."""

    def __init__(self, settings: HubBrokerSettings, on_message: Callable[[str, bytes], None]) -> None:
        self.settings = settings
        self._on_message = on_message
        self.status = HubLinkStatus.STARTING
        self.handler_errors = 0
        self.connects = 0
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=settings.client_id, protocol=MQTTProtocolVersion.MQTTv5
        )
        client.username_pw_set(settings.username, settings.password)
        if settings.ca_file is not None:
            client.tls_set(ca_certs=str(settings.ca_file), tls_version=ssl.PROTOCOL_TLS_CLIENT)
        client.reconnect_delay_set(RECONNECT_MIN_S, RECONNECT_MAX_S)
        client.on_connect = self._handle_connect
        client.on_disconnect = self._handle_disconnect
        client.on_message = self._handle_message
        client.enable_logger(log)
        self._client = client

    def start(self) -> None:
        """Connect in the background."""
        # A clean session on purpose: a dead worker's saved session would keep receiving its share of a shared
        # subscription (mosquitto routes to it and queues), delaying those batches until it came back. Terminals
        # send again whatever is not acknowledged, so nothing is lost while no worker is up.
        self._client.connect_async(self.settings.host, self.settings.port, KEEPALIVE_S, clean_start=True)
        self._client.loop_start()

    @property
    def connected(self) -> bool:
        """Whether the link is up."""
        return self.status is HubLinkStatus.CONNECTED and self._client.is_connected()

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> bool:
        """QoS 1; False when not connected."""
        if not self.connected:
            return False
        return self._client.publish(topic, payload, qos=1, retain=retain).rc is MQTTErrorCode.MQTT_ERR_SUCCESS

    def stop(self) -> None:
        """Disconnect and join the network thread."""
        self._client.disconnect()
        self._client.loop_stop()
        self.status = HubLinkStatus.STOPPED

    def _handle_connect(
        self,
        client: mqtt.Client,
        _userdata: object,
        _flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        _properties: Properties | None,
    ) -> None:
        if reason_code.is_failure:
            if int(reason_code.value) in BAD_CREDENTIALS:
                self.status = HubLinkStatus.REFUSED
                log.error("broker refused the hub's credentials (%s): fix them; not retrying", reason_code)
                client.disconnect()
            else:
                self.status = HubLinkStatus.DISCONNECTED
                log.warning("broker refused the connection: %s; retrying", reason_code)
            return
        self.status = HubLinkStatus.CONNECTED
        self.connects += 1
        for topic in hub_subscriptions(self.settings.share_group):
            client.subscribe(topic, qos=1)
        log.info("hub worker %s connected", self.settings.client_id)

    def _handle_disconnect(
        self,
        _client: mqtt.Client,
        _userdata: object,
        _flags: mqtt.DisconnectFlags,
        reason_code: ReasonCode,
        _properties: Properties | None,
    ) -> None:
        if self.status is HubLinkStatus.CONNECTED:
            log.warning("hub worker disconnected: %s", reason_code)
        if self.status not in (HubLinkStatus.REFUSED, HubLinkStatus.STOPPED):
            self.status = HubLinkStatus.DISCONNECTED

    def _handle_message(self, _client: mqtt.Client, _userdata: object, message: mqtt.MQTTMessage) -> None:
        try:
            self._on_message(message.topic, bytes(message.payload))
        except Exception:
            self.handler_errors += 1
            log.exception("handling a message on %s failed", message.topic)
