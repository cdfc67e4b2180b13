"""The relay against a real district center on loopback: a day down, misbehaving answers, refusals, lists."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.engine import Engine

from district.server.store import DistrictStore, create_engine
from hub.relay.client import ClientSettings, DistrictClient
from hub.relay.service import RelayService, RelaySettings
from hub.storage import relay
from hub.storage.devices import decommission
from hub.storage.ingest import refusal_counts
from hub.storage.lists import current_revocation, current_trust_list
from protocol.envelope import open_batch
from protocol.keys import Alg, generate_private_key
from tests.district.server.support import LIST_ID, OTHER_TOKEN, T0, TOKEN, District, serving, spki
from tests.hub.relay.support import FakeClock, Front, Terminal, accept_into
from tests.services.mosquitto import HOST, free_port

DAY_S = 24 * 3600
STEP_S = 60.0
DOWN_STEP_MIN = 5
"""While the district is down the relay steps every 5 simulated minutes (terminals report every 20)."""
MAX_CATCH_UP_STEPS = 2000
"""Steps (one simulated minute each) the relay gets to deliver a day's backlog once the district is back."""


def fast(url: str, token: str = TOKEN) -> ClientSettings:
    """Client settings with short timeouts (a hanging district costs half a second, not fifteen)."""
    return ClientSettings(url, token, connect_timeout_s=0.5, read_timeout_s=0.5, total_timeout_s=2.0)


def relay_of(engine: Engine, url: str, district: District, clock: FakeClock, *, token: str = TOKEN) -> RelayService:
    client = DistrictClient(fast(url, token))
    return RelayService(
        engine,
        client,
        accept_list=accept_into(engine, district.root.public_key(), clock),
        clock=clock,
        rng=random.Random(7),
        settings=RelaySettings(holder="hub-test", pull_interval_s=3600.0),
    )


@contextmanager
def district_store(district: District) -> Iterator[DistrictStore]:
    store = DistrictStore(create_engine(district.settings.data_dir))
    try:
        yield store
    finally:
        store.engine.dispose()


def drain(service: RelayService, clock: FakeClock, *, max_steps: int = MAX_CATCH_UP_STEPS) -> int:
    """Step (a simulated minute apart) until nothing waits; returns the steps taken."""
    for step in range(max_steps):
        if service.stats().queued == 0:
            return step
        service.step()
        clock.advance(STEP_S)
    raise AssertionError(f"the outbox did not drain in {max_steps} steps: {service.stats()}")


def assert_arrived_once_in_order(district: District, terminals: list[Terminal]) -> None:
    """Every record once; each device's batches in the order they were stored; every signature verifies."""
    with district_store(district) as store:
        counts = store.counts()
        assert counts["records"] == sum(t.next_seq - 1 for t in terminals)
        for terminal in terminals:
            arrivals = store.arrivals(terminal.device_id)
            seqs = [seq for batch in arrivals for seq in range(batch.first_seq, batch.last_seq + 1)]
            assert seqs == list(range(1, terminal.next_seq)), terminal.device_id
            for batch in arrivals:
                opened = open_batch(batch.cose, terminal.key.public_key(), device=terminal.device_id)
                assert (opened.first_seq, opened.last_seq) == (batch.first_seq, batch.last_seq)
            assert store.record_seqs(terminal.device_id, "events") == list(range(1, terminal.next_seq))


def test_a_day_without_the_district_then_everything_arrives_once_in_order(
    hub_engine: Engine, district: District
) -> None:
    clock = FakeClock()
    terminals = [Terminal(hub_engine, f"scanner-{n:02d}").enrol(clock.now) for n in range(1, 4)]
    port = free_port()
    service = relay_of(hub_engine, f"http://{HOST}:{port}", district, clock)
    # A simulated day with the district down: every terminal reports every 20 minutes, the relay keeps trying.
    for minute in range(0, DAY_S // 60, DOWN_STEP_MIN):
        if minute % 20 == 0:
            for n, terminal in enumerate(terminals):
                terminal.report(1 + (minute + n) % 5, clock.now)
        service.step()
        clock.advance(DOWN_STEP_MIN * 60)
    stats = service.stats()
    stored = sum(t.next_seq - 1 for t in terminals)
    assert stats.queued == relay.pending_relay_count(hub_engine) == 3 * 72
    assert stats.oldest_age_s is not None
    assert stats.oldest_age_s >= DAY_S - DOWN_STEP_MIN * 60
    assert (stats.parked, stats.delivered) == (0, 0)
    # It kept trying through the day, one call per round while the district was unreachable, not one per batch.
    assert 0 < service.counters["district_unreachable"] <= DAY_S / (DOWN_STEP_MIN * 60)
    with serving(district.settings, port=port):
        steps = drain(service, clock)
        assert steps < MAX_CATCH_UP_STEPS
        assert_arrived_once_in_order(district, terminals)
        with district_store(district) as store:
            assert store.counts()["batches"] == 3 * 72
    after = service.stats()
    assert (after.queued, after.parked, after.delivered, after.oldest_age_s) == (0, 0, 3 * 72, None)
    assert stored == sum(t.next_seq - 1 for t in terminals)


def test_500s_hangs_garbage_and_lost_answers_are_retried_without_loss_or_doubles(
    sqlite_hub: Engine, district: District
) -> None:
    clock = FakeClock()
    terminals = [Terminal(sqlite_hub, f"scanner-{n:02d}").enrol(clock.now) for n in range(1, 3)]
    with serving(district.settings) as url, Front(url) as front:
        service = relay_of(sqlite_hub, front.url, district, clock)
        for mode in ("500", "hang", "garbage", "junk_200", "close"):
            front.mode = mode
            for terminal in terminals:
                terminal.report(3, clock.now)
            before = front.requests
            for _ in range(3):
                service.step()
                clock.advance(relay.RELAY_BACKOFF_MAX_S + 1)
            assert front.requests > before, mode
            assert service.stats().delivered == 0, mode  # no answer read: nothing counted as delivered
        front.mode = "pass"
        drain(service, clock)
        assert_arrived_once_in_order(district, terminals)
        with district_store(district) as store:
            counts = store.counts()
        # The district stored batches whose answers were lost; their retries were recognised as duplicates.
        assert counts["batches"] == 2 * 5
        assert service.stats().delivered == 2 * 5


def test_a_refused_batch_is_parked_shown_and_does_not_hold_its_device_back(
    hub_engine: Engine, district: District
) -> None:
    clock = FakeClock()
    a, b = (Terminal(hub_engine, f"scanner-{n:02d}").enrol(clock.now) for n in (1, 2))
    with serving(district.settings) as url:
        service = relay_of(hub_engine, url, district, clock)
        a.report(2, clock.now)
        drain(service, clock)
        # Someone retires scanner-01 at the district while the hub still has its batches to send.
        service.client.decommission(a.device_id)
        a.report(1, clock.now)
        b.report(1, clock.now)
        a.report(1, clock.now)
        drain(service, clock)
        parked = relay.parked_batches(hub_engine)
        assert [(p.device_id, p.first_seq, p.reason, p.http_status) for p in parked] == [
            ("scanner-01", 3, "decommissioned", 410),
            ("scanner-01", 4, "decommissioned", 410),
        ]
        stats = service.stats()
        assert (stats.queued, stats.parked, stats.delivered) == (0, 2, 2)
        assert ("scanner-01", "relay_decommissioned", 2) in [
            (r.device_id, r.reason, r.count) for r in refusal_counts(hub_engine)
        ]
        assert relay.requeue_parked(hub_engine, now=clock.now, outbox_id=parked[0].outbox_id) == 1
        assert service.stats().queued == 1
        with district_store(district) as store:
            assert store.record_seqs(b.device_id, "events") == [1]


def test_a_district_that_forgot_a_device_is_told_its_key_again(hub_engine: Engine, district: District) -> None:
    clock = FakeClock()
    terminal = Terminal(hub_engine, "scanner-01").enrol(clock.now)
    with serving(district.settings) as url:
        service = relay_of(hub_engine, url, district, clock)
        terminal.report(2, clock.now)
        drain(service, clock)
    (district.settings.data_dir / "district.db").unlink()  # restored from an old backup: an empty database
    for suffix in ("-wal", "-shm"):
        (district.settings.data_dir / f"district.db{suffix}").unlink(missing_ok=True)
    terminal.report(2, clock.now)
    with serving(district.settings) as url:
        service.client = DistrictClient(fast(url))
        drain(service, clock)
        with district_store(district) as store:
            assert store.record_seqs("scanner-01", "events") == [3, 4]
            assert store.device("scanner-01") is not None
    assert service.stats().parked == 0


def test_a_retired_device_is_notified_after_its_last_batch(hub_engine: Engine, district: District) -> None:
    clock = FakeClock()
    terminal = Terminal(hub_engine, "scanner-01").enrol(clock.now)
    terminal.report(2, clock.now)
    decommission(hub_engine, "scanner-01", now=clock.now)  # retired before the relay ever ran
    with serving(district.settings) as url:
        service = relay_of(hub_engine, url, district, clock)
        drain(service, clock)
        service.step()
        with district_store(district) as store:
            assert store.record_seqs("scanner-01", "events") == [1, 2]
            entry = store.device("scanner-01")
            assert entry is not None
            assert entry.decommissioned_at is not None
            assert entry.public_key == spki(terminal.key)
    assert relay.devices_to_decommission(hub_engine, now=clock.now + 1, limit=10) == []


def test_a_device_of_another_hub_is_parked_not_retried_forever(hub_engine: Engine, district: District) -> None:
    clock = FakeClock()
    terminal = Terminal(hub_engine, "scanner-01").enrol(clock.now)
    terminal.report(1, clock.now)
    with serving(district.settings) as url:
        DistrictClient(ClientSettings(url, OTHER_TOKEN)).register("scanner-01", spki(terminal.key), "scanner")
        service = relay_of(hub_engine, url, district, clock)
        drain(service, clock)
    assert [(p.first_seq, p.reason) for p in relay.parked_batches(hub_engine)] == [(1, "other_hub")]


def test_lists_are_pulled_verified_and_handed_down(hub_engine: Engine, district: District) -> None:
    clock = FakeClock()
    district.sign_trust_list(2)
    for n in range(3):
        district.revoke(bytes([n]) * 16)
    with serving(district.settings) as url:
        service = relay_of(hub_engine, url, district, clock)
        assert service.pull_lists() == 4
        trust, revocation = current_trust_list(hub_engine), current_revocation(hub_engine, LIST_ID)
        assert trust is not None
        assert revocation is not None
        assert (trust.seq, revocation.seq) == (2, 3)
        assert service.pull_lists() == 0  # nothing newer
        district.revoke(b"\x09" * 16)
        assert service.pull_lists() == 1
        stranger = generate_private_key(Alg.EDDSA)  # a hub that trusts another root refuses all of it
        service.accept_list = accept_into(hub_engine, stranger.public_key(), clock)
        district.sign_trust_list(3)
        assert service.pull_lists() == 0
        assert service.counters["lists_refused"] == 1
    held = current_trust_list(hub_engine)
    assert held is not None
    assert held.seq == 2
    assert any(r.reason == "district_list_wrong_key" for r in refusal_counts(hub_engine))


def test_one_worker_at_a_time_relays(hub_engine: Engine, district: District) -> None:
    clock = FakeClock()
    first = relay_of(hub_engine, "http://127.0.0.1:9", district, clock)
    second = relay_of(hub_engine, "http://127.0.0.1:9", district, clock)
    second.settings = RelaySettings(holder="hub-other")
    assert first.step().leader
    assert not second.step().leader
    clock.advance(first.settings.lease_ttl_s + 1)  # the first one stopped renewing (crashed)
    assert second.step().leader
    assert not first.step().leader
    assert clock.now > T0
