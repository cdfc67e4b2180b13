"""The fleet benchmark runs end to end with a few terminals (structure and exactly-once, never speed); the simulated
terminal's batch bookkeeping is checked on its own."""

from __future__ import annotations

from tests.bench.bench_fleet import main
from tests.bench.fleet_sim import BATCH_RECORDS, WINDOW, TerminalState

TERMINALS = 30


def test_batches_take_what_was_recorded_within_the_window() -> None:
    state = TerminalState()
    assert state.next_batch(now=0.0) is None  # nothing recorded
    state.record(3, at=1.0)
    assert state.next_batch(now=1.0) == range(1, 4)
    assert state.next_batch(now=1.0) is None  # everything recorded is in flight
    for i in range(WINDOW - 1):
        state.record(2, at=2.0 + i)
        assert state.next_batch(now=2.0 + i) is not None
    state.record(BATCH_RECORDS + 5, at=9.0)
    assert state.next_batch(now=9.0) is None  # the window is full: the events wait and batch up
    state.on_ack(3, (), now=10.0)
    assert state.latencies_s == [9.0]
    assert state.next_batch(now=10.0) == range(10, 10 + BATCH_RECORDS)  # one batch of at most BATCH_RECORDS


def test_an_ack_retires_everything_it_covers_and_records_latencies() -> None:
    state = TerminalState()
    state.record(3, at=0.0)
    state.next_batch(now=10.0)
    state.record(2, at=0.0)
    state.next_batch(now=11.0)
    state.on_ack(5, (), now=12.0)
    assert state.latencies_s == [2.0, 1.0]
    assert (state.acked_upto, state.drained, list(state.inflight), state.at) == (5, True, [], {})


def test_missing_ranges_are_sent_again_first_outside_the_window() -> None:
    state = TerminalState()
    state.record(2, at=0.0)
    state.next_batch(now=0.0)  # 1-2, lost on the way
    state.record(2, at=1.0)
    state.next_batch(now=1.0)  # 3-4, stored: the hub wants 1-2
    state.on_ack(0, ((1, 2),), now=1.5)
    state.on_ack(0, ((1, 2),), now=1.6)  # a second ack naming the same range: queued once
    assert list(state.resend) == [(1, 2)]
    assert state.next_batch(now=1.7) == range(1, 3)
    assert state.next_batch(now=1.7) is None
    assert (state.batches, state.resent) == (3, 1)
    state.on_ack(4, (), now=2.0)
    assert state.latencies_s == [2.0, 1.0]  # from the first publish, the resend included
    assert state.drained


def test_a_timeout_sends_everything_again_from_the_last_ack() -> None:
    state = TerminalState()
    state.record(2, at=0.0)
    state.next_batch(now=0.0)
    state.record(2, at=0.0)
    state.next_batch(now=1.0)
    assert not state.check_timeout(now=30.0, ack_timeout_s=30.0)
    assert state.check_timeout(now=30.5, ack_timeout_s=30.0)
    assert state.next_batch(now=30.5) == range(1, 5)
    assert (state.timeouts, state.resent, state.latencies_s) == (1, 1, [])
    state.on_ack(4, (), now=31.0)
    assert state.latencies_s == [31.0, 30.0]


def test_an_ack_beyond_what_was_sent_acknowledges_only_what_was_sent() -> None:
    state = TerminalState()
    state.record(4, at=0.0)
    state.next_batch(now=0.0)
    state.on_ack(99, (), now=1.0)
    assert state.acked_upto == 4


def test_bench_fleet_reports_every_figure_and_stores_each_event_once() -> None:
    rows = main(["--terminals", str(TERMINALS), "--minutes", "0.5", "--processes", "2"])
    by_figure = {row["figure"]: row for row in rows}
    assert list(by_figure)[:6] == ["ack latency p50", "ack latency p99", "hub CPU", "hub memory", "events stored",
                                   "connected"]  # fmt: skip
    stored = by_figure["events stored"]
    assert float(stored["ours"]) == float(stored["reference"]) > 0  # stored in PostgreSQL == sent
    assert "differs from what they sent: 0;" in str(stored["notes"])
    assert "unacked events at the end 0;" in str(stored["notes"])
    assert float(by_figure["connected"]["ours"]) == TERMINALS
    for figure in ("ack latency p50", "ack latency p99", "hub CPU", "hub memory"):
        assert float(by_figure[figure]["ours"]) > 0
        assert float(by_figure[figure]["reference"]) > 0
        assert float(by_figure[figure]["ratio"]) > 0
    assert "hub-3 SIGKILLed" in str(by_figure["ack latency p99"]["notes"])
    assert float(by_figure["site page p50"]["ours"]) > 0
    assert float(by_figure["site page p99"]["reference"]) > 0
