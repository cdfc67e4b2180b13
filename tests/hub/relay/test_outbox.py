"""The relay's storage beside the outbox: parked batches, devices at the district, the lease, the migration."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command
from sqlalchemy.engine import Engine

from hub.storage import relay
from hub.storage.devices import decommission
from hub.storage.migrate import alembic_config, current_revision, head_revision
from tests.district.server.support import T0
from tests.hub.relay.support import Terminal


def test_a_parked_batch_is_not_due_does_not_block_its_device_and_can_be_requeued(hub_engine: Engine) -> None:
    a = Terminal(hub_engine, "a-1").enrol(T0)
    for _ in range(3):
        a.report(1, T0)
    first, second, third = relay.due_relay_batches(hub_engine, limit=10, now=T0)
    assert relay.park(hub_engine, first.id, reason="bad_signature", now=T0 + 1, http_status=422, detail="no")
    assert not relay.park(hub_engine, first.id, reason="again", now=T0 + 2)
    relay.mark_failed(hub_engine, second.id, now=T0, backoff_s=100)
    assert relay.due_relay_batches(hub_engine, limit=10, now=T0 + 50) == []  # second waits; third stays behind it
    assert [i.id for i in relay.due_relay_batches(hub_engine, limit=10, now=T0 + 100)] == [second.id, third.id]
    (parked,) = relay.parked_batches(hub_engine)
    assert (parked.outbox_id, parked.reason, parked.http_status, parked.detail, parked.attempts) == (
        first.id, "bad_signature", 422, "no", 1,
    )  # fmt: skip
    stats = relay.relay_stats(hub_engine, now=T0 + 10)
    assert (stats.queued, stats.parked, stats.delivered, stats.oldest_age_s) == (2, 1, 0, 10)
    assert relay.requeue_parked(hub_engine, now=T0 + 200) == 1
    assert relay.parked_batches(hub_engine) == []
    assert [i.id for i in relay.due_relay_batches(hub_engine, limit=10, now=T0 + 200)] == [
        first.id,
        second.id,
        third.id,
    ]
    assert relay.mark_delivered(hub_engine, first.id, now=T0 + 201)
    assert not relay.park(hub_engine, first.id, reason="late", now=T0 + 202)


def test_devices_are_registered_once_and_decommissioned_after_their_last_batch(hub_engine: Engine) -> None:
    a = Terminal(hub_engine, "a-1").enrol(T0)
    Terminal(hub_engine, "b-1").enrol(T0)
    assert [d.device_id for d in relay.devices_to_register(hub_engine, now=T0, limit=10)] == ["a-1", "b-1"]
    relay.device_call_failed(hub_engine, "b-1", now=T0, error="down", backoff_s=60)
    relay.mark_registered(hub_engine, "a-1", now=T0)
    assert [d.device_id for d in relay.devices_to_register(hub_engine, now=T0 + 1, limit=10)] == []
    assert [d.device_id for d in relay.devices_to_register(hub_engine, now=T0 + 60, limit=10)] == ["b-1"]
    assert relay.device_attempts(hub_engine, "b-1") == 1
    assert relay.registered_devices(hub_engine) == {"a-1"}
    assert relay.relay_stats(hub_engine, now=T0).unregistered_devices == 0
    a.report(1, T0)
    decommission(hub_engine, "a-1", now=T0 + 2)
    assert relay.devices_to_decommission(hub_engine, now=T0 + 3, limit=10) == []  # a batch still waits
    (item,) = relay.due_relay_batches(hub_engine, limit=10, now=T0 + 3)
    relay.mark_delivered(hub_engine, item.id, now=T0 + 3)
    assert relay.devices_to_decommission(hub_engine, now=T0 + 3, limit=10) == ["a-1"]
    relay.mark_decommission_sent(hub_engine, "a-1", now=T0 + 4)
    assert relay.devices_to_decommission(hub_engine, now=T0 + 5, limit=10) == []
    relay.mark_unregistered(hub_engine, "b-1", now=T0 + 5)
    assert relay.upstream_device(hub_engine, "a-1") is not None
    assert relay.upstream_device(hub_engine, "nobody") is None


def test_the_lease_is_held_by_one_worker_until_it_expires_or_is_released(hub_engine: Engine) -> None:
    assert relay.acquire_lease(hub_engine, "w1", now=T0, ttl_s=30)
    assert relay.acquire_lease(hub_engine, "w1", now=T0 + 10, ttl_s=30)  # renewed to T0 + 40
    assert not relay.acquire_lease(hub_engine, "w2", now=T0 + 39, ttl_s=30)
    assert relay.acquire_lease(hub_engine, "w2", now=T0 + 41, ttl_s=30)
    relay.release_lease(hub_engine, "w1")  # not its lease any more: nothing happens
    assert not relay.acquire_lease(hub_engine, "w1", now=T0 + 42, ttl_s=30)
    relay.release_lease(hub_engine, "w2")
    assert relay.acquire_lease(hub_engine, "w1", now=T0 + 43, ttl_s=30)


def test_the_migration_goes_down_and_up_again(hub_engine: Engine) -> None:
    tables = {"relay_parked", "relay_devices", "relay_lease"}
    with hub_engine.begin() as conn:
        config = alembic_config()
        config.attributes["connection"] = conn
        command.downgrade(config, "0003")
    assert not tables & set(sa.inspect(hub_engine).get_table_names())
    with hub_engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
    assert tables <= set(sa.inspect(hub_engine).get_table_names())
    assert current_revision(hub_engine) == head_revision()
