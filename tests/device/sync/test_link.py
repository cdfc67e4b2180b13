"""The terminal's MQTT link against a real mosquitto with broker-enforced identity."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from device.sync.link import BrokerSettings, DeviceLink, LinkStatus
from hub.broker.dynsec import DynSecAdmin
from protocol import topics
from protocol.messages import DeviceState, StateMessage, open_state, seal_state
from tests.services.mosquitto import MosquittoBroker, MqttProbe

KEY = ed25519.Ed25519PrivateKey.generate()
BOOT = bytes(range(16))
DEVICE = "scanner-01"


def state(kind: DeviceState) -> bytes:
    return seal_state(StateMessage(DEVICE, kind, BOOT, 1.8e9, {"fw": "test"}), KEY)


def wait_for(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail("condition not met in time")
        time.sleep(0.02)


@pytest.fixture
def enrolled(broker: MosquittoBroker) -> Iterator[tuple[MosquittoBroker, DynSecAdmin]]:
    admin = DynSecAdmin(broker.host, broker.port, broker.admin_user, broker.admin_password)
    admin.connect()
    admin.ensure_all()
    admin.enrol_device(DEVICE, "device-pass")
    admin.create_hub_user("hub", "hub-pass")
    yield broker, admin
    admin.close()


def link(broker: MosquittoBroker, received: list[tuple[str, bytes]], password: str = "device-pass") -> DeviceLink:
    return DeviceLink(
        BrokerSettings(broker.host, broker.port, DEVICE, password),
        will=state(DeviceState.OFFLINE),
        birth=lambda: state(DeviceState.ONLINE),
        stopped=lambda: state(DeviceState.STOPPED),
        subscriptions=topics.device_subscriptions(DEVICE, ("CN-SH-PD",)),
        on_message=lambda topic, payload: received.append((topic, payload)),
    )


def watcher(broker: MosquittoBroker) -> MqttProbe:
    probe = MqttProbe(broker, "hub", "hub-pass", client_id="hub-watcher")
    probe.connected()
    probe.subscribe(topics.state(DEVICE))
    return probe


def test_birth_on_connect_and_stopped_on_clean_stop(enrolled: tuple[MosquittoBroker, DynSecAdmin]) -> None:
    broker, _admin = enrolled
    hub = watcher(broker)
    received: list[tuple[str, bytes]] = []
    device = link(broker, received)
    device.start()
    try:
        birth = open_state(bytes(hub.expect(topics.state(DEVICE)).payload), KEY.public_key(), device=DEVICE)
        assert birth.state is DeviceState.ONLINE
        hub.client.publish(topics.down(DEVICE, topics.Down.ACK), b"hello", qos=1)
        wait_for(lambda: bool(received))
        assert received[0] == (topics.down(DEVICE, topics.Down.ACK), b"hello")
    finally:
        device.stop(clean=True)
    stopped = open_state(bytes(hub.expect(topics.state(DEVICE)).payload), KEY.public_key(), device=DEVICE)
    assert stopped.state is DeviceState.STOPPED
    hub.close()


def test_a_lost_connection_publishes_the_retained_will(enrolled: tuple[MosquittoBroker, DynSecAdmin]) -> None:
    broker, _admin = enrolled
    device = link(broker, [])
    device.start()
    wait_for(lambda: device.connected)
    device._client._sock_close()  # the network goes away without a DISCONNECT: a power cut, as the broker sees it
    device._client.loop_stop()
    hub = watcher(broker)  # a late subscriber still learns it from the retained message
    deadline = time.monotonic() + 90
    while True:
        message = open_state(
            bytes(hub.expect(topics.state(DEVICE), timeout_s=90).payload), KEY.public_key(), device=DEVICE
        )
        if message.state is DeviceState.OFFLINE or time.monotonic() > deadline:
            break
    assert message.state is DeviceState.OFFLINE
    hub.close()


def test_refused_credentials_stop_the_retries(enrolled: tuple[MosquittoBroker, DynSecAdmin]) -> None:
    broker, _admin = enrolled
    device = link(broker, [], password="wrong")
    device.start()
    wait_for(lambda: device.status is LinkStatus.REFUSED)
    connects_after = broker.log().count("wrong") + broker.log().count(DEVICE)
    time.sleep(2.5)  # longer than the first reconnect delays: a retrying client would have tried again
    assert broker.log().count("wrong") + broker.log().count(DEVICE) == connects_after
    device.stop(clean=False)


def test_resubscribes_and_republishes_birth_after_a_broker_restart(
    enrolled: tuple[MosquittoBroker, DynSecAdmin],
) -> None:
    broker, _admin = enrolled
    received: list[tuple[str, bytes]] = []
    device = link(broker, received)
    device.start()
    try:
        wait_for(lambda: device.connected)
        broker.stop()
        wait_for(lambda: not device.connected)
        broker.start()
        wait_for(lambda: device.connects >= 2, timeout_s=60)
        hub = watcher(broker)
        assert open_state(bytes(hub.expect(topics.state(DEVICE)).payload), KEY.public_key(), device=DEVICE).state is (
            DeviceState.ONLINE
        )
        hub.client.publish(topics.trustlist(), b"list", qos=1, retain=True)
        wait_for(lambda: (topics.trustlist(), b"list") in received)
        hub.close()
    finally:
        device.stop(clean=True)
