"""A real mosquitto for integration tests: its own config, port, persistence and dynamic-security file.

``broker`` starts ``hub.broker.local.LocalBroker`` (mosquitto on 127.0.0.1 with ``allow_anonymous false`` and the
dynamic-security plugin; only the admin user of ``mosquitto_ctrl dynsec init`` exists at first); the test can
``stop()``, ``kill()`` and ``start()`` it again on the same port with the same persistence. ``MqttProbe`` is a paho
client whose every call waits, bounded, for the broker's answer, for tests that check what the broker allows.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from hub.broker.local import HOST, START_ATTEMPTS, BrokerStartError, free_port, start_local_broker
from hub.broker.local import LocalBroker as MosquittoBroker

__all__ = ["HOST", "START_ATTEMPTS", "BrokerStartError", "MosquittoBroker", "MqttProbe", "free_port", "start_broker"]

WAIT_S = 5.0
"""How long an ``MqttProbe`` waits for any answer of the broker."""
LOG_TAIL_CHARS = 8000
KEEPALIVE_S = 30
SESSION_EXPIRY_S = 3600
"""Session expiry of a persistent ``MqttProbe`` (MQTT 5)."""


def start_broker(directory: Path) -> MosquittoBroker:
    """A started broker in ``directory`` on a free port; the test fails with mosquitto's log if it cannot start."""
    try:
        return start_local_broker(directory)
    except BrokerStartError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[MosquittoBroker]:
    """A running mosquitto of this test's own (dynamic security, persistence, 127.0.0.1), stopped afterwards."""
    started = start_broker(tmp_path / "mosquitto")
    try:
        yield started
    finally:
        started.stop()
        # Shown by pytest only when the test failed.
        print(f"--- mosquitto log ({started.log_file}) ---\n{started.log()[-LOG_TAIL_CHARS:]}")


class MqttProbe:
    """A paho client for tests: connect, subscribe and publish wait for the broker's answer, all bounded.

    It never reconnects by itself. ``close()`` disconnects and joins paho's network thread.
    """

    def __init__(
        self,
        broker: MosquittoBroker,
        username: str,
        password: str,
        *,
        client_id: str | None = None,
        protocol: MQTTProtocolVersion = MQTTProtocolVersion.MQTTv5,
        persistent: bool = False,
    ) -> None:
        self.broker = broker
        self.protocol = protocol
        self.persistent = persistent
        v5 = protocol is MQTTProtocolVersion.MQTTv5
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id or username,
            protocol=protocol,
            clean_session=None if v5 else not persistent,
            reconnect_on_failure=False,
        )
        self.client.username_pw_set(username, password)
        self.messages: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        self.disconnected = threading.Event()
        self.disconnect_reason: ReasonCode | None = None
        self._connack: queue.Queue[ReasonCode] = queue.Queue()
        self._subacks: dict[int, list[ReasonCode]] = {}
        self._pubacks: dict[int, ReasonCode] = {}
        self._acked = threading.Condition()
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_publish = self._on_publish
        self.client.on_message = lambda _c, _u, message: self.messages.put(message)

    def _on_connect(self, _c: mqtt.Client, _u: object, _f: object, rc: ReasonCode, _p: object) -> None:
        self._connack.put(rc)

    def _on_disconnect(self, _c: mqtt.Client, _u: object, _f: object, rc: ReasonCode, _p: object) -> None:
        self.disconnect_reason = rc
        self.disconnected.set()

    def _on_subscribe(self, _c: mqtt.Client, _u: object, mid: int, codes: list[ReasonCode], _p: object) -> None:
        with self._acked:
            self._subacks[mid] = codes
            self._acked.notify_all()

    def _on_publish(self, _c: mqtt.Client, _u: object, mid: int, rc: ReasonCode, _p: object) -> None:
        with self._acked:
            self._pubacks[mid] = rc
            self._acked.notify_all()

    def will(self, topic: str, payload: bytes) -> MqttProbe:
        """Set a retained QoS 1 last will (before ``connect``)."""
        self.client.will_set(topic, payload, qos=1, retain=True)
        return self

    def connect(self) -> ReasonCode:
        """Connect and return the CONNACK reason code (a refusal is returned, not raised)."""
        self.client.loop_stop()
        self.disconnected.clear()
        if self.protocol is MQTTProtocolVersion.MQTTv5:
            properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            properties.SessionExpiryInterval = SESSION_EXPIRY_S if self.persistent else 0
            self.client.connect(
                self.broker.host, self.broker.port, KEEPALIVE_S, clean_start=not self.persistent, properties=properties
            )
        else:
            self.client.connect(self.broker.host, self.broker.port, KEEPALIVE_S)
        self.client.loop_start()
        return self._connack.get(timeout=WAIT_S)

    def connected(self) -> MqttProbe:
        """Connect and fail the test unless the broker accepts."""
        rc = self.connect()
        assert not rc.is_failure, f"connection refused: {rc}"
        return self

    def subscribe(self, topic: str, qos: int = 1) -> ReasonCode:
        """Subscribe and return the SUBACK reason code (granted QoS, or a failure)."""
        result, mid = self.client.subscribe(topic, qos)
        assert result == MQTTErrorCode.MQTT_ERR_SUCCESS, result
        assert mid is not None
        with self._acked:
            assert self._acked.wait_for(lambda: mid in self._subacks, WAIT_S), f"no SUBACK for {topic}"
            return self._subacks.pop(mid)[0]

    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> ReasonCode:
        """Publish and, at QoS 1, return the PUBACK reason code (MQTT 3.1.1 has none: success)."""
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        assert info.rc == MQTTErrorCode.MQTT_ERR_SUCCESS, info.rc
        with self._acked:
            assert self._acked.wait_for(lambda: info.mid in self._pubacks, WAIT_S), f"no PUBACK for {topic}"
            return self._pubacks.pop(info.mid)

    def expect(self, topic: str, timeout_s: float = WAIT_S) -> mqtt.MQTTMessage:
        """The next message, which must be on ``topic``."""
        try:
            message = self.messages.get(timeout=timeout_s)
        except queue.Empty:
            pytest.fail(f"no message on {topic} within {timeout_s}s")
        assert message.topic == topic, f"expected a message on {topic}, got one on {message.topic}"
        return message

    def expect_nothing(self, within_s: float = 0.3) -> None:
        """No message arrives within ``within_s`` (use only where no later message can prove the absence)."""
        try:
            message = self.messages.get(timeout=within_s)
        except queue.Empty:
            return
        pytest.fail(f"unexpected message on {message.topic}: {message.payload[:80]!r}")

    def close(self) -> None:
        """Disconnect cleanly if connected and join the network thread."""
        self.client.disconnect()
        self.client.loop_stop()
