"""The sync contract under faults, counted at the hub: a terminal killed mid-drain, a hub worker killed mid-drain,
a broker restarted mid-drain. Every test drains a backlog written into the terminal's store beforehand and ends by
counting every seq 1..N at the hub exactly once, the hub's progress at N, and the terminal's backlog at 0."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.rig import (
    Children,
    HubProcess,
    InProcessHub,
    Site,
    Terminal,
    WireTap,
    exactly_once,
    progress,
    wait_for,
)

DEVICE = "scanner-01"
BACKLOG = 3000
BATCH = 40
SYNC = {"batch_records": BATCH, "window": 4, "ack_timeout_s": 2.0, "rate_messages_s": 25.0}
"""Small batches (75 for the backlog) and a short ack timeout: many batches in flight, resends soon after a loss."""


@pytest.fixture
def hub(site: Site) -> Iterator[InProcessHub]:
    """One hub worker in the test process (its counters are read by the tests)."""
    worker = InProcessHub(site).start()
    try:
        yield worker
    finally:
        worker.stop()


@pytest.fixture
def terminal(site: Site, children: Children, tmp_path: Path) -> Terminal:
    """An enrolled terminal (not started) with ``BACKLOG`` events waiting in its store."""
    made = Terminal(site, site.enrol(DEVICE), tmp_path / "terminals", children, SYNC)
    made.prefill(BACKLOG)
    return made


def drained(terminal: Terminal) -> None:
    """Wait until the terminal's store says everything is acknowledged."""
    wait_for(lambda: terminal.counts().backlog == 0, f"terminal backlog drained\n{terminal.log()}")


def test_a_terminal_killed_mid_drain_resends_and_the_hub_stores_each_event_once(
    site: Site, hub: InProcessHub, terminal: Terminal
) -> None:
    terminal.start()
    wait_for(lambda: terminal.counts().acked_upto >= BACKLOG // 4, "a quarter acknowledged")
    terminal.kill()  # wherever it was: sealing, publishing, writing an ack
    first_kill = terminal.counts()
    assert 0 < first_kill.backlog < BACKLOG

    terminal.start()
    wait_for(lambda: terminal.counts().acked_upto >= BACKLOG // 2, "half acknowledged")
    # Acks lost on the way, then the power cut: the hub holds batches the terminal never heard about. The acks stay
    # lost until the restarted terminal has sent some of them again (otherwise a later cumulative ack, queued in its
    # broker session, would tell it before it resends).
    hub.hold_acks.set()
    wait_for(lambda: hub.dropped_acks > 0, "the hub stored a batch whose ack was lost")
    terminal.kill()
    second_kill = terminal.counts()
    stored_unacked = progress(site.engine, DEVICE).contiguous_upto - second_kill.acked_upto
    assert stored_unacked >= BATCH
    terminal.start()
    wait_for(lambda: hub.ingest.duplicates >= BATCH, f"the restarted terminal resent a stored batch\n{terminal.log()}")
    hub.hold_acks.clear()
    drained(terminal)
    terminal.stop()

    end = terminal.counts()
    assert (end.recorded, end.acked_upto, end.backlog) == (BACKLOG, BACKLOG, 0)
    exactly_once(site.engine, DEVICE, BACKLOG)
    assert hub.ingest.stored == BACKLOG
    assert hub.ingest.duplicates >= BATCH, "the resent batches were deduplicated"
    assert hub.ingest.refusals == {}
    print(
        f"kill 1 at acked {first_kill.acked_upto}, kill 2 at acked {second_kill.acked_upto} "
        f"with {stored_unacked} stored unacked ({hub.dropped_acks} acks lost); "
        f"stored {hub.ingest.stored}, duplicates {hub.ingest.duplicates}"
    )


def test_a_broker_restart_mid_drain_loses_nothing_and_doubles_nothing(
    site: Site, hub: InProcessHub, terminal: Terminal
) -> None:
    terminal.start()
    wait_for(lambda: terminal.counts().acked_upto >= BACKLOG // 3, "a third acknowledged")
    site.broker.stop()  # SIGTERM: mosquitto saves sessions and queued messages
    at_stop = terminal.counts()
    site.broker.start()
    drained(terminal)
    terminal.stop()

    end = terminal.counts()
    assert (end.recorded, end.acked_upto, end.backlog) == (BACKLOG, BACKLOG, 0)
    assert at_stop.acked_upto < BACKLOG
    exactly_once(site.engine, DEVICE, BACKLOG)
    assert hub.ingest.stored == BACKLOG
    assert hub.ingest.refusals == {}
    print(f"broker restarted at acked {at_stop.acked_upto}; duplicates {hub.ingest.duplicates}")


def test_a_hub_worker_killed_mid_drain_comes_back_and_stores_each_event_once(
    site: Site, children: Children, terminal: Terminal, tmp_path: Path
) -> None:
    worker = HubProcess(site, "hub-1", tmp_path, children)
    tap = WireTap.open(site.broker, terminal.identity)
    try:
        worker.start()
        terminal.start()
        wait_for(
            lambda: progress(site.engine, DEVICE).contiguous_upto >= BACKLOG // 3, f"a third stored\n{worker.log()}"
        )
        worker.kill()
        at_kill = progress(site.engine, DEVICE).contiguous_upto
        worker.start()
        drained(terminal)
        terminal.stop()
        worker.stop()
        sent = tap.collect().seqs
    finally:
        tap.close()

    end = terminal.counts()
    assert (end.recorded, end.acked_upto, end.backlog) == (BACKLOG, BACKLOG, 0)
    exactly_once(site.engine, DEVICE, BACKLOG)
    assert set(sent) == set(range(1, BACKLOG + 1))
    print(f"hub killed at stored {at_kill}; records on the wire {len(sent)} for {BACKLOG} events")
