"""The scan loop end to end on fakes: one decision per presentation, light, gate, event, latency."""

from __future__ import annotations

from device.scanner.loop import ScanOutcome
from device.signal.fake import FakeIndicator
from protocol.gp1 import PassStatus
from protocol.reasons import Decision
from protocol.revocation import holder_rid
from tests.device.scanner.conftest import EMPTY, Rig, frame_of, pass_text, revoke


def run_all(rig: Rig) -> list[ScanOutcome]:
    outcomes: list[ScanOutcome] = []
    while (step := rig.loop.step()) is not None:
        outcomes.extend(step)
    return outcomes


def test_green_pass_opens_the_gate_and_is_stored(rig: Rig) -> None:
    rig.camera.images = [EMPTY, frame_of(pass_text()), EMPTY]
    outcomes = run_all(rig)
    assert len(outcomes) == 1
    assert rig.indicator.shown == [Decision.PASS]
    assert rig.gate.opened == [2500]
    events = list(rig.store.events())
    assert len(events) == 1
    assert (events[0].event.decision, events[0].event.reason, events[0].event.time_source) == ("pass", "ok", "ntp")
    assert events[0].event.rid is not None
    assert events[0].event.latency_ms is not None and events[0].event.latency_ms >= 0


def test_a_code_held_in_view_is_one_scan_and_shown_again_later_is_two(rig: Rig) -> None:
    text = pass_text()
    rig.camera.images = [frame_of(text)] * 60  # two seconds at 30 fps
    assert len(run_all(rig)) == 1
    rig.clock.advance(5.0)
    rig.camera.images = [frame_of(text)]
    assert len(run_all(rig)) == 1
    assert [s.seq for s in rig.store.events()] == [1, 2]


def test_red_yellow_and_revoked_never_open_the_gate(rig: Rig) -> None:
    revoked_hid = bytes(16)
    revoke(rig, holder_rid("CN-ZJ-HZ", revoked_hid))
    rig.camera.images = [
        frame_of(pass_text(PassStatus.RED)),
        frame_of(pass_text(PassStatus.YELLOW)),
        frame_of(pass_text(hid=revoked_hid)),
        frame_of("GP1:NOT-A-PASS"),
    ]
    run_all(rig)
    assert rig.indicator.shown == [Decision.DENY, Decision.CHECK, Decision.DENY, Decision.INVALID]
    assert rig.gate.opened == []
    assert [e.event.reason for e in rig.store.events()] == ["status_red", "status_yellow", "revoked", "bad_base45"]


def test_a_failing_light_is_counted_and_the_decision_still_stored(rig: Rig) -> None:
    rig.loop.indicator = FakeIndicator(fail=True)
    rig.camera.images = [frame_of(pass_text())]
    run_all(rig)
    assert rig.metrics.signal_errors.labels("indicator")._value.get() == 1
    assert len(list(rig.store.events())) == 1


def test_the_light_returns_to_rest(rig: Rig) -> None:
    rig.camera.images = [frame_of(pass_text())]
    run_all(rig)
    rig.clock.advance(3.0)
    rig.loop.step()
    assert rig.indicator.idles == 1


def test_latency_is_measured_from_capture_to_the_indicator(rig: Rig) -> None:
    rig.camera.images = [frame_of(pass_text())]
    outcomes = run_all(rig)
    assert outcomes[0].latency_ms == 0.0  # the fake clock does not move while deciding
    assert rig.metrics.latency._sum.get() == 0.0
