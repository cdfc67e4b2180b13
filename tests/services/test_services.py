"""The service fixtures themselves: a broker that restarts keeps what it must, PostgreSQL takes connections."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import sqlalchemy as sa
from paho.mqtt.enums import MQTTProtocolVersion

from hub.broker import DynSecAdmin
from protocol import topics
from protocol.topics import Down
from tests.services.mosquitto import HOST, BrokerStartError, MosquittoBroker, MqttProbe, free_port


def _enrol(broker: MosquittoBroker) -> None:
    with DynSecAdmin(broker.host, broker.port, broker.admin_user, broker.admin_password) as admin:
        admin.ensure_all()
        admin.enrol_device("alpha", "alpha-secret")
        admin.create_hub_user("hub", "hub-secret")


@pytest.mark.parametrize(
    "protocol",
    [pytest.param(MQTTProtocolVersion.MQTTv5, id="mqtt5"), pytest.param(MQTTProtocolVersion.MQTTv311, id="mqtt311")],
)
def test_a_broker_restart_keeps_retained_messages_and_queued_qos1(
    broker: MosquittoBroker, protocol: MQTTProtocolVersion
) -> None:
    _enrol(broker)
    device = MqttProbe(broker, "alpha", "alpha-secret", protocol=protocol, persistent=True)
    hub = MqttProbe(broker, "hub", "hub-secret")
    try:
        device.connected()
        assert not device.subscribe(topics.down("alpha", Down.ACK)).is_failure
        device.close()  # the session stays, with its subscription
        hub.connected()
        assert not hub.publish(topics.trustlist(), b"tl-1", retain=True).is_failure
        assert not hub.publish(topics.down("alpha", Down.ACK), b"ack-1").is_failure  # queued for the device
        hub.close()

        broker.stop()
        broker.start()

        device.connected()
        assert device.expect(topics.down("alpha", Down.ACK)).payload == b"ack-1"
        assert not device.subscribe(topics.trustlist()).is_failure
        assert device.expect(topics.trustlist()).payload == b"tl-1"
    finally:
        device.close()
        hub.close()


def test_a_killed_broker_starts_again_on_the_same_port(broker: MosquittoBroker) -> None:
    _enrol(broker)
    port = broker.port
    broker.kill()
    assert not broker.running
    with socket.socket() as sock:
        assert sock.connect_ex((HOST, port)) != 0
    broker.start()
    assert broker.port == port
    probe = MqttProbe(broker, "alpha", "alpha-secret")
    try:
        assert not probe.connect().is_failure  # the dynamic-security file survives a kill
    finally:
        probe.close()
    assert "mosquitto version" in broker.log()


def test_a_broker_that_cannot_start_reports_its_log(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind((HOST, free_port()))
        taken.listen(1)
        blocked = MosquittoBroker(tmp_path / "blocked", int(taken.getsockname()[1]))
        with pytest.raises(BrokerStartError, match="Address already in use"):
            blocked.start(timeout_s=5.0)
    assert not blocked.running


def test_free_ports_are_distinct_and_bindable() -> None:
    ports = {free_port() for _ in range(20)}
    assert len(ports) == 20
    for port in ports:
        with socket.socket() as sock:
            sock.bind((HOST, port))


def test_postgres_url_accepts_a_connection_and_create_table(postgres_url: str) -> None:
    assert postgres_url.startswith("postgresql+psycopg://gridpass:") and f"@{HOST}:" in postgres_url
    engine = sa.create_engine(postgres_url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE TABLE IF NOT EXISTS fixture_check (id integer PRIMARY KEY, note text)"))
            conn.execute(sa.text("INSERT INTO fixture_check VALUES (1, 'ok') ON CONFLICT DO NOTHING"))
            assert conn.execute(sa.text("SELECT note FROM fixture_check WHERE id = 1")).scalar_one() == "ok"
            assert conn.execute(sa.text("SHOW fsync")).scalar_one() == "off"
    finally:
        engine.dispose()


def test_fresh_postgres_url_is_an_empty_database_of_its_own(fresh_postgres_url: str, postgres_url: str) -> None:
    assert fresh_postgres_url != postgres_url
    engine = sa.create_engine(fresh_postgres_url)
    try:
        assert sa.inspect(engine).get_table_names() == []
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE TABLE t (id integer)"))
    finally:
        engine.dispose()


def test_hub_db_url_gives_both_kinds(hub_db_url: str) -> None:
    engine = sa.create_engine(hub_db_url)
    try:
        assert engine.dialect.name in {"sqlite", "postgresql"}
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE TABLE t (id integer)"))
            conn.execute(sa.text("INSERT INTO t VALUES (1)"))
            assert conn.execute(sa.text("SELECT count(*) FROM t")).scalar_one() == 1
    finally:
        engine.dispose()
