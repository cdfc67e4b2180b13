"""The relay outbox: each stored batch once, with its idempotency key, in order per device, with backoff."""

from __future__ import annotations

import itertools

from sqlalchemy.engine import Engine

from hub.storage import relay
from hub.storage.ingest import batch_sha256, store_batch
from protocol.topics import Stream
from tests.hub.storage.support import T0, cose, enrol, records

EVENTS = Stream.EVENTS


def put(engine: Engine, device: str, *seqs: int) -> None:
    store_batch(engine, device, EVENTS, cose(*seqs, tag=device), records(*seqs), now=T0)


def test_batches_come_out_in_order_with_their_signed_bytes_and_keys(hub_engine: Engine) -> None:
    for device in ("a-1", "b-1"):
        enrol(hub_engine, device)
    put(hub_engine, "a-1", 1, 2)
    put(hub_engine, "b-1", 1)
    put(hub_engine, "a-1", 3)
    due = relay.due_relay_batches(hub_engine, limit=10, now=T0)
    assert [(i.device_id, i.first_seq, i.last_seq) for i in due] == [("a-1", 1, 2), ("b-1", 1, 1), ("a-1", 3, 3)]
    assert [i.cose for i in due] == [cose(1, 2, tag="a-1"), cose(1, tag="b-1"), cose(3, tag="a-1")]
    assert [i.idempotency_key for i in due] == [batch_sha256(i.cose) for i in due]
    assert len({i.idempotency_key for i in due}) == 3
    assert [i.id for i in relay.due_relay_batches(hub_engine, limit=2, now=T0)] == [due[0].id, due[1].id]
    assert relay.pending_relay_count(hub_engine) == 3


def test_delivered_batches_are_not_due_again(hub_engine: Engine) -> None:
    enrol(hub_engine, "a-1")
    put(hub_engine, "a-1", 1)
    (item,) = relay.due_relay_batches(hub_engine, limit=10, now=T0)
    assert relay.mark_delivered(hub_engine, item.id, now=T0 + 1)
    assert not relay.mark_delivered(hub_engine, item.id, now=T0 + 2)
    assert relay.due_relay_batches(hub_engine, limit=10, now=T0 + 3) == []
    assert relay.pending_relay_count(hub_engine) == 0
    relay.mark_failed(hub_engine, item.id, now=T0 + 4, error="late")  # a late failure changes nothing
    assert relay.due_relay_batches(hub_engine, limit=10, now=T0 + 10**6) == []


def test_a_failed_batch_holds_back_its_device_only_until_its_backoff_ends(hub_engine: Engine) -> None:
    for device in ("a-1", "b-1"):
        enrol(hub_engine, device)
    put(hub_engine, "a-1", 1)
    put(hub_engine, "a-1", 2)
    put(hub_engine, "b-1", 1)
    head = relay.due_relay_batches(hub_engine, limit=10, now=T0)[0]
    relay.mark_failed(hub_engine, head.id, now=T0, error="district down")
    assert [(i.device_id, i.first_seq) for i in relay.due_relay_batches(hub_engine, limit=10, now=T0 + 1)] == [
        ("b-1", 1)
    ]
    later = relay.due_relay_batches(hub_engine, limit=10, now=T0 + relay.relay_backoff_s(1))
    assert [(i.device_id, i.first_seq, i.attempts) for i in later] == [("a-1", 1, 1), ("a-1", 2, 0), ("b-1", 1, 0)]
    relay.mark_failed(hub_engine, head.id, now=T0, backoff_s=3600)
    assert [i.device_id for i in relay.due_relay_batches(hub_engine, limit=10, now=T0 + 3599)] == ["b-1"]


def test_backoff_doubles_up_to_its_cap() -> None:
    delays = [relay.relay_backoff_s(n) for n in range(1, 12)]
    assert delays[0] == relay.RELAY_BACKOFF_BASE_S
    assert all(b == min(2 * a, relay.RELAY_BACKOFF_MAX_S) for a, b in itertools.pairwise(delays))
    assert relay.relay_backoff_s(10**6) == relay.RELAY_BACKOFF_MAX_S
