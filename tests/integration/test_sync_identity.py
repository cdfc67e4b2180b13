"""Duplicates and replays, identity and presence, through a real mosquitto and a hub worker, counted at the hub.

Batches are published by a probe logged in as the device (as a replaying or leaking terminal would) or by a real
terminal process; the probe reads the device's ``down/`` topics, so it sees every ack the hub sends it. Where a
test shows that no ack came, the hub's worker then publishes a marker on the same subscription: MQTT keeps one
publisher's messages in order, so the marker arriving next proves that no ack was published before it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.storage.devices import decommission
from hub.storage.ingest import refusal_counts
from hub.storage.presence import get_presence
from protocol import topics
from protocol.envelope import open_batch
from protocol.messages import DeviceState, parse_ack
from tests.integration.rig import (
    Children,
    Identity,
    InProcessHub,
    Site,
    Terminal,
    WireTap,
    exactly_once,
    hub_batches,
    hub_seqs,
    sealed_batch,
    wait_for,
)
from tests.services.mosquitto import MqttProbe

DEVICE = "scanner-01"
OTHER = "scanner-02"
MARKER = b"marker"


@pytest.fixture
def hub(site: Site) -> Iterator[InProcessHub]:
    """One hub worker in the test process (its counters are read by the tests)."""
    worker = InProcessHub(site).start()
    try:
        yield worker
    finally:
        worker.stop()


@pytest.fixture
def probe_of() -> Iterator[list[MqttProbe]]:
    """Probes made by the test, closed at teardown."""
    made: list[MqttProbe] = []
    try:
        yield made
    finally:
        for probe in made:
            probe.close()


def as_device(site: Site, identity: Identity, probes: list[MqttProbe]) -> MqttProbe:
    """A probe logged in as the device (its client id too), subscribed to the device's ``down/`` topics."""
    probe = MqttProbe(site.broker, identity.device_id, identity.password)
    probes.append(probe)
    probe.connected()
    assert not probe.subscribe(f"{topics.device_root(identity.device_id)}/down/#").is_failure
    return probe


def expect_ack(probe: MqttProbe, device_id: str) -> int:
    """The next message is an ack of the device's events: its ``upto``."""
    ack = parse_ack(bytes(probe.expect(topics.down(device_id, topics.Down.ACK)).payload))
    assert not ack.missing
    return ack.upto


def expect_no_ack(hub: InProcessHub, probe: MqttProbe, device_id: str) -> None:
    """No ack reached the probe: the hub's next message to it is the marker."""
    assert hub.link is not None
    assert hub.link.publish(topics.down(device_id, topics.Down.CMD), MARKER)
    assert bytes(probe.expect(topics.down(device_id, topics.Down.CMD)).payload) == MARKER


def refusals(site: Site) -> dict[tuple[str | None, str], int]:
    """The hub's refusal counters, by (device, reason)."""
    return {(row.device_id, row.reason): row.count for row in refusal_counts(site.engine)}


# --- duplicates and replays ---------------------------------------------------------------------------------------


def test_the_same_signed_batch_twice_is_acked_twice_and_stored_once(
    site: Site, hub: InProcessHub, probe_of: list[MqttProbe]
) -> None:
    identity = site.enrol(DEVICE)
    probe = as_device(site, identity, probe_of)
    data = sealed_batch(identity, range(1, 51))

    probe.publish(topics.up(DEVICE, topics.Stream.EVENTS), data)
    assert expect_ack(probe, DEVICE) == 50
    probe.publish(topics.up(DEVICE, topics.Stream.EVENTS), data)
    assert expect_ack(probe, DEVICE) == 50

    exactly_once(site.engine, DEVICE, 50)
    assert (hub.ingest.stored, hub.ingest.duplicates) == (50, 50)
    assert hub_batches(site.engine, DEVICE) == 1
    assert hub.ingest.refusals == {}


def test_a_replay_after_the_terminal_forgot_is_acked_and_not_stored_again(
    site: Site, hub: InProcessHub, children: Children, tmp_path: Path, probe_of: list[MqttProbe]
) -> None:
    backlog = 400
    terminal = Terminal(site, site.enrol(DEVICE), tmp_path / "terminals", children, {"batch_records": 50})
    terminal.prefill(backlog)
    tap = WireTap.open(site.broker, terminal.identity)
    try:
        terminal.start()
        wait_for(lambda: terminal.counts().backlog == 0, f"terminal drained\n{terminal.log()}")
        terminal.stop()
        sent = tap.collect()
    finally:
        tap.close()
    assert terminal.counts().acked_upto == backlog  # the terminal has forgotten them all
    exactly_once(site.engine, DEVICE, backlog)
    batches, stored, duplicates = hub_batches(site.engine, DEVICE), hub.ingest.stored, hub.ingest.duplicates

    probe = as_device(site, terminal.identity, probe_of)  # the terminal is off: nobody else uses its session
    first, last = sent.batches[0], sent.batches[-1]
    for data in (first, first, last):
        probe.publish(topics.up(DEVICE, topics.Stream.EVENTS), data)
        assert expect_ack(probe, DEVICE) == backlog

    exactly_once(site.engine, DEVICE, backlog)
    assert hub_batches(site.engine, DEVICE) == batches
    assert hub.ingest.stored == stored == backlog
    replayed = sum(
        len(open_batch(data, terminal.identity.public_key, device=DEVICE).records) for data in (first, first, last)
    )
    assert hub.ingest.duplicates - duplicates == replayed
    assert hub.ingest.refusals == {}


# --- identity -----------------------------------------------------------------------------------------------------


def test_a_decommissioned_device_is_refused_by_the_hub_and_then_by_the_broker(
    site: Site, hub: InProcessHub, probe_of: list[MqttProbe]
) -> None:
    identity = site.enrol(DEVICE)
    probe = as_device(site, identity, probe_of)
    probe.publish(topics.up(DEVICE, topics.Stream.EVENTS), sealed_batch(identity, range(1, 11)))
    assert expect_ack(probe, DEVICE) == 10

    decommission(site.engine, DEVICE, now=time.time())  # the hub first: a batch that still gets through leaks
    probe.publish(topics.up(DEVICE, topics.Stream.EVENTS), sealed_batch(identity, range(11, 21)))
    wait_for(lambda: refusals(site).get((DEVICE, "unknown_device"), 0) == 1, "the leaked batch refused")
    expect_no_ack(hub, probe, DEVICE)

    with site.admin() as admin:
        admin.decommission_device(DEVICE)
    assert probe.disconnected.wait(10), "the broker dropped the live connection"
    again = MqttProbe(site.broker, DEVICE, identity.password)
    probe_of.append(again)
    assert again.connect().is_failure, "the broker refuses a decommissioned device at connect"

    assert hub_seqs(site.engine, DEVICE) == list(range(1, 11))
    assert refusals(site) == {(DEVICE, "unknown_device"): 1}
    assert hub.ingest.refusals == {"unknown_device": 1}


def test_a_batch_signed_with_another_devices_key_is_refused_and_counted(
    site: Site, hub: InProcessHub, probe_of: list[MqttProbe]
) -> None:
    identity, other = site.enrol(DEVICE), site.enrol(OTHER)
    probe = as_device(site, identity, probe_of)
    probe.publish(topics.up(DEVICE, topics.Stream.EVENTS), sealed_batch(identity, range(1, 11), key=other.key))
    wait_for(lambda: refusals(site).get((DEVICE, "wrong_key"), 0) == 1, "the batch refused as wrong_key")
    expect_no_ack(hub, probe, DEVICE)
    probe.publish(topics.up(DEVICE, topics.Stream.EVENTS), sealed_batch(identity, range(1, 11)))
    assert expect_ack(probe, DEVICE) == 10  # the device's own key still works

    exactly_once(site.engine, DEVICE, 10)
    assert hub_seqs(site.engine, OTHER) == []
    assert refusals(site) == {(DEVICE, "wrong_key"): 1}
    assert hub.ingest.refusals == {"wrong_key": 1}


# --- presence -----------------------------------------------------------------------------------------------------


def test_a_clean_stop_leaves_stopped_and_a_kill_leaves_offline(
    site: Site, hub: InProcessHub, children: Children, tmp_path: Path
) -> None:
    terminal = Terminal(site, site.enrol(DEVICE), tmp_path / "terminals", children, {})

    def state() -> tuple[DeviceState | None, bool, str | None]:
        view = get_presence(site.engine, DEVICE)
        return (None, False, None) if view is None else (view.state, view.connected, view.boot_id)

    terminal.start()
    wait_for(lambda: state()[:2] == (DeviceState.ONLINE, True), f"online\n{terminal.log()}")
    first_boot = state()[2]
    terminal.stop()
    wait_for(lambda: state()[:2] == (DeviceState.STOPPED, False), "stopped after SIGTERM")
    assert state()[2] == first_boot

    terminal.start()
    wait_for(lambda: state()[:2] == (DeviceState.ONLINE, True) and state()[2] != first_boot, "online, new boot")
    second_boot = state()[2]
    terminal.kill()
    wait_for(lambda: state()[:2] == (DeviceState.OFFLINE, False), "offline after SIGKILL (the broker's will)")
    assert state()[2] == second_boot

    # A hub worker that subscribes again gets the retained state replayed: still offline, never online again.
    view = get_presence(site.engine, DEVICE)
    assert view is not None
    before = view.updated_at
    hub.stop()
    hub.start()
    wait_for(lambda: (v := get_presence(site.engine, DEVICE)) is not None and v.updated_at != before, "replayed")
    assert state() == (DeviceState.OFFLINE, False, second_boot)
