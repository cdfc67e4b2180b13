"""hub/broker/dynsec.py against a real mosquitto: what an enrolled terminal and the hub may and may not do."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
from paho.mqtt.enums import MQTTProtocolVersion

from hub.broker import BrokerAdminError, DynSecAdmin
from hub.broker.dynsec import DEVICE_ROLE, HUB_ROLE, device_acls, device_role
from protocol import topics
from protocol.topics import Down, Stream
from tests.services.mosquitto import MosquittoBroker, MqttProbe

V5 = MQTTProtocolVersion.MQTTv5
V311 = MQTTProtocolVersion.MQTTv311
PROTOCOLS = [pytest.param(V5, id="mqtt5"), pytest.param(V311, id="mqtt311")]
NOT_AUTHORIZED = 0x87
V311_SUBACK_FAILURE = 0x80
ADMINISTRATIVE_ACTION = 0x98
REFUSALS = {"Bad user name or password", "Not authorized"}
HUB_USER, HUB_PASSWORD = "hub-1", "hub-secret"

ProbeFactory = Callable[..., MqttProbe]


@pytest.fixture
def admin(broker: MosquittoBroker) -> Iterator[DynSecAdmin]:
    """A connected admin on ``broker``, with the defaults and roles in place and devices alpha and bravo."""
    with DynSecAdmin(broker.host, broker.port, broker.admin_user, broker.admin_password) as connected:
        connected.ensure_all()
        connected.enrol_device("alpha", "alpha-secret")
        connected.enrol_device("bravo", "bravo-secret")
        connected.create_hub_user(HUB_USER, HUB_PASSWORD)
        yield connected


@pytest.fixture
def probe(broker: MosquittoBroker) -> Iterator[ProbeFactory]:
    """Makes MQTT clients on ``broker`` and closes them all afterwards."""
    made: list[MqttProbe] = []

    def make(username: str, password: str, **kwargs: object) -> MqttProbe:
        made.append(MqttProbe(broker, username, password, **kwargs))  # type: ignore[arg-type]
        return made[-1]

    yield make
    for client in made:
        client.close()


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_an_enrolled_device_connects_with_its_password(
    admin: DynSecAdmin, probe: ProbeFactory, protocol: object
) -> None:
    assert not probe("alpha", "alpha-secret", protocol=protocol).connect().is_failure


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize(("user", "password"), [("alpha", "wrong"), ("nobody", "alpha-secret"), ("alpha", "")])
def test_wrong_credentials_are_refused_at_connect(
    admin: DynSecAdmin, probe: ProbeFactory, protocol: object, user: str, password: str
) -> None:
    rc = probe(user, password, protocol=protocol).connect()
    assert rc.is_failure
    assert rc.getName() in REFUSALS


def test_a_device_must_use_its_own_id_as_client_id(admin: DynSecAdmin, probe: ProbeFactory) -> None:
    # Otherwise alpha could connect as client "bravo" and take over bravo's session and queued messages.
    assert probe("alpha", "alpha-secret", client_id="bravo").connect().getName() in REFUSALS


def test_publishing_into_another_device_subtree_is_refused_and_never_delivered(
    admin: DynSecAdmin, probe: ProbeFactory
) -> None:
    hub = probe(HUB_USER, HUB_PASSWORD).connected()
    assert not hub.subscribe(topics.up("bravo", Stream.EVENTS)).is_failure
    assert not hub.subscribe(topics.up("alpha", Stream.EVENTS)).is_failure
    alpha = probe("alpha", "alpha-secret").connected()

    assert alpha.publish(topics.up("bravo", Stream.EVENTS), b"forged").value == NOT_AUTHORIZED
    assert alpha.publish(topics.state("bravo"), b"forged", retain=True).value == NOT_AUTHORIZED
    assert alpha.publish(topics.trustlist(), b"forged", retain=True).value == NOT_AUTHORIZED
    assert not alpha.publish(topics.up("alpha", Stream.EVENTS), b"mine").is_failure
    # Messages of one client arrive in order: the first that arrives being "mine" proves the forgeries never did.
    assert hub.expect(topics.up("alpha", Stream.EVENTS)).payload == b"mine"


def test_mqtt311_forgeries_are_dropped_silently(admin: DynSecAdmin, probe: ProbeFactory) -> None:
    hub = probe(HUB_USER, HUB_PASSWORD).connected()
    assert not hub.subscribe(f"{topics.ROOT}/dev/+/up/+").is_failure
    alpha = probe("alpha", "alpha-secret", protocol=V311).connected()

    alpha.publish(topics.up("bravo", Stream.EVENTS), b"forged")  # PUBACK of 3.1.1 carries no reason code
    alpha.publish(topics.up("alpha", Stream.EVENTS), b"mine")
    assert hub.expect(topics.up("alpha", Stream.EVENTS)).payload == b"mine"


@pytest.mark.parametrize(
    "topic",
    [
        topics.down("bravo", Down.CMD),
        f"{topics.device_root('bravo')}/down/#",
        f"{topics.ROOT}/dev/+/down/#",
        f"{topics.ROOT}/#",
        "#",
        topics.up("bravo", Stream.EVENTS),
        topics.state("alpha"),
    ],
)
@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_subscribing_outside_own_down_and_dist_is_refused(
    admin: DynSecAdmin, probe: ProbeFactory, protocol: MQTTProtocolVersion, topic: str
) -> None:
    alpha = probe("alpha", "alpha-secret", protocol=protocol).connected()
    assert alpha.subscribe(topic).value == (NOT_AUTHORIZED if protocol is V5 else V311_SUBACK_FAILURE)


def test_a_device_receives_its_own_down_and_dist_only(admin: DynSecAdmin, probe: ProbeFactory) -> None:
    alpha = probe("alpha", "alpha-secret").connected()
    for topic in topics.device_subscriptions("alpha", ("eu-dcc",)):
        assert not alpha.subscribe(topic).is_failure
    hub = probe(HUB_USER, HUB_PASSWORD).connected()

    for topic, payload in [
        (topics.down("bravo", Down.ACK), b"for bravo"),
        (topics.down("alpha", Down.ACK), b"ack"),
        (topics.down("alpha", Down.CMD), b"cmd"),
        (topics.revocations("eu-dcc"), b"rev"),
        (topics.trustlist(), b"tl"),
    ]:
        assert not hub.publish(topic, payload).is_failure
    assert alpha.expect(topics.down("alpha", Down.ACK)).payload == b"ack"
    assert alpha.expect(topics.down("alpha", Down.CMD)).payload == b"cmd"
    assert alpha.expect(topics.revocations("eu-dcc")).payload == b"rev"
    assert alpha.expect(topics.trustlist()).payload == b"tl"
    alpha.expect_nothing()


def test_retained_dist_messages_reach_a_device_that_subscribes_later(admin: DynSecAdmin, probe: ProbeFactory) -> None:
    hub = probe(HUB_USER, HUB_PASSWORD).connected()
    assert not hub.publish(topics.trustlist(), b"tl-7", retain=True).is_failure
    assert not hub.publish(topics.down("alpha", Down.CONFIG), b"config-3", retain=True).is_failure

    alpha = probe("alpha", "alpha-secret", protocol=V311).connected()
    assert not alpha.subscribe(topics.trustlist()).is_failure
    message = alpha.expect(topics.trustlist())
    assert (message.payload, message.retain) == (b"tl-7", True)
    assert not alpha.subscribe(topics.down("alpha", Down.CONFIG)).is_failure
    assert alpha.expect(topics.down("alpha", Down.CONFIG)).payload == b"config-3"


def test_decommission_drops_the_live_connection_and_refuses_the_next(admin: DynSecAdmin, probe: ProbeFactory) -> None:
    hub = probe(HUB_USER, HUB_PASSWORD).connected()
    assert not hub.subscribe(topics.state("alpha")).is_failure
    alpha = probe("alpha", "alpha-secret").will(topics.state("alpha"), b"offline").connected()

    admin.decommission_device("alpha")

    assert alpha.disconnected.wait(5.0), "the broker kept the decommissioned device connected"
    assert alpha.disconnect_reason is not None
    assert alpha.disconnect_reason.value == ADMINISTRATIVE_ACTION
    assert probe("alpha", "alpha-secret").connect().getName() in REFUSALS
    client = admin.get_client("alpha")
    assert client is not None
    assert client.disabled
    # mosquitto kicks without the last will: the hub must mark a decommissioned device offline itself.
    hub.expect_nothing()

    admin.enable_device("alpha")
    assert not probe("alpha", "alpha-secret").connect().is_failure


def test_enrolling_again_changes_the_password_and_keeps_decommissioned_devices_out(
    admin: DynSecAdmin, probe: ProbeFactory
) -> None:
    admin.enrol_device("alpha", "rotated")
    assert probe("alpha", "alpha-secret").connect().getName() in REFUSALS
    assert not probe("alpha", "rotated").connect().is_failure

    admin.decommission_device("bravo")
    admin.enrol_device("bravo", "bravo-2")
    assert probe("bravo", "bravo-2").connect().getName() in REFUSALS


def test_delete_removes_the_user_and_its_role(admin: DynSecAdmin, probe: ProbeFactory) -> None:
    admin.delete_device("bravo")
    admin.delete_device("bravo")  # idempotent
    assert admin.get_client("bravo") is None
    assert probe("bravo", "bravo-secret").connect().getName() in REFUSALS
    with pytest.raises(BrokerAdminError, match="Role not found") as raised:
        admin.command("getRole", rolename=device_role("bravo"))
    assert raised.value.error == "Role not found"


def test_list_clients_shows_devices_hub_and_admin(admin: DynSecAdmin, broker: MosquittoBroker) -> None:
    admin.decommission_device("bravo")
    clients = {client.username: client for client in admin.list_clients()}
    assert set(clients) == {broker.admin_user, "alpha", "bravo", HUB_USER}
    assert clients["alpha"].roles == tuple(sorted((DEVICE_ROLE, device_role("alpha"))))
    assert clients["alpha"].client_id == "alpha"
    assert (clients["alpha"].disabled, clients["bravo"].disabled) == (False, True)
    assert clients["alpha"].is_device
    assert not clients[HUB_USER].is_device
    assert clients[HUB_USER].roles == (HUB_ROLE,)


def test_the_hub_reads_every_device_and_publishes_down_and_dist(admin: DynSecAdmin, probe: ProbeFactory) -> None:
    alpha = probe("alpha", "alpha-secret").connected()
    bravo = probe("bravo", "bravo-secret", protocol=V311).connected()
    assert not alpha.publish(topics.state("alpha"), b"alpha online", retain=True).is_failure
    hub = probe(HUB_USER, HUB_PASSWORD).connected()
    shared = probe(HUB_USER, HUB_PASSWORD, client_id="hub-1-worker").connected()
    for topic in topics.hub_subscriptions():
        assert not hub.subscribe(topic).is_failure
    for topic in topics.hub_subscriptions("workers"):
        assert not shared.subscribe(topic).is_failure
    assert hub.expect(topics.state("alpha")).payload == b"alpha online"  # retained
    assert shared.expect(topics.state("alpha")).payload == b"alpha online"

    bravo.publish(topics.up("bravo", Stream.SNAPSHOTS), b"chunk")
    assert hub.expect(topics.up("bravo", Stream.SNAPSHOTS)).payload == b"chunk"
    assert shared.expect(topics.up("bravo", Stream.SNAPSHOTS)).payload == b"chunk"

    assert not alpha.subscribe(topics.down("alpha", Down.ACK)).is_failure
    assert not hub.publish(topics.down("alpha", Down.ACK), b"ack 1").is_failure
    assert alpha.expect(topics.down("alpha", Down.ACK)).payload == b"ack 1"
    # The hub cannot speak for a device, and cannot read a device's down/ or other topics.
    assert hub.publish(topics.up("alpha", Stream.EVENTS), b"forged").value == NOT_AUTHORIZED
    assert hub.subscribe(f"{topics.ROOT}/dev/+/down/#").value == NOT_AUTHORIZED


def test_admin_refuses_to_turn_other_users_into_devices(admin: DynSecAdmin, broker: MosquittoBroker) -> None:
    for name in (broker.admin_user, HUB_USER):
        with pytest.raises(BrokerAdminError, match="is not a"):
            admin.enrol_device(name, "x")
        with pytest.raises(BrokerAdminError, match="is not a device"):
            admin.decommission_device(name)
    with pytest.raises(BrokerAdminError, match="is not a gridpass-hub user"):
        admin.create_hub_user("alpha", "x")
    with pytest.raises(BrokerAdminError, match="no device 'charlie'") as raised:
        admin.enable_device("charlie")
    assert raised.value.error == "Client not found"
    with pytest.raises(topics.TopicError):
        admin.enrol_device("Not/A/Device", "x")


def test_plugin_errors_carry_the_plugin_text(admin: DynSecAdmin) -> None:
    with pytest.raises(BrokerAdminError, match="addClientRole: Role not found") as raised:
        admin.command("addClientRole", username="alpha", rolename="no-such-role")
    assert (raised.value.command, raised.value.error) == ("addClientRole", "Role not found")


def test_ensure_all_is_idempotent_and_repairs_roles(admin: DynSecAdmin, probe: ProbeFactory) -> None:
    admin.command("modifyRole", rolename=DEVICE_ROLE, acls=[])
    admin.ensure_all()
    admin.ensure_all()
    role = admin.command("getRole", rolename=device_role("alpha"))["data"]["role"]
    assert {(acl["acltype"], acl["topic"]) for acl in role["acls"]} == {
        (acl["acltype"], acl["topic"]) for acl in device_acls("alpha")
    }
    alpha = probe("alpha", "alpha-secret").connected()
    assert not alpha.subscribe(topics.trustlist()).is_failure


def test_a_refused_admin_fails_fast_without_retrying(broker: MosquittoBroker) -> None:
    admin = DynSecAdmin(broker.host, broker.port, broker.admin_user, "wrong", timeout_s=2.0)
    started = time.monotonic()
    with pytest.raises(BrokerAdminError, match="failed: Not authorized"):
        admin.connect()
    assert time.monotonic() - started < 1.0


def test_an_unreachable_broker_is_an_admin_error(broker: MosquittoBroker) -> None:
    broker.stop()
    with pytest.raises(BrokerAdminError, match="cannot reach"):
        DynSecAdmin(broker.host, broker.port, broker.admin_user, broker.admin_password).connect()


def test_the_admin_reconnects_after_a_broker_restart(admin: DynSecAdmin, broker: MosquittoBroker) -> None:
    broker.stop()
    broker.start()
    admin.decommission_device("alpha")  # waits for paho's reconnection (RECONNECT_MIN_S) and resubscription
    client = admin.get_client("alpha")
    assert client is not None
    assert client.disabled
