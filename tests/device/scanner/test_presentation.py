"""One decision per presentation of a code."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from device.scanner.presentation import MAX_TRACKED, PresentationTracker


def test_a_code_held_for_two_seconds_is_one_scan() -> None:
    tracker = PresentationTracker(hold_off_s=3.0)
    frames = [i / 30 for i in range(60)]
    assert [tracker.is_new("GP1:A", t) for t in frames].count(True) == 1


def test_shown_again_after_the_hold_off_is_a_new_scan() -> None:
    tracker = PresentationTracker(hold_off_s=3.0)
    assert tracker.is_new("GP1:A", 0.0)
    assert not tracker.is_new("GP1:A", 2.9)
    assert tracker.is_new("GP1:A", 6.0)


def test_two_people_one_after_the_other() -> None:
    tracker = PresentationTracker(hold_off_s=3.0)
    assert tracker.is_new("GP1:A", 0.0)
    assert tracker.is_new("GP1:B", 0.5)
    assert not tracker.is_new("GP1:A", 1.0)


def test_memory_is_bounded_under_a_flood_of_codes() -> None:
    tracker = PresentationTracker(hold_off_s=3.0)
    for i in range(MAX_TRACKED * 3):
        tracker.is_new(f"code-{i}", i * 0.001)
    assert len(tracker._last_seen) <= MAX_TRACKED + 1


@given(st.lists(st.floats(min_value=0, max_value=0.5), min_size=1, max_size=200))
def test_gaps_shorter_than_the_hold_off_never_start_a_new_scan(gaps: list[float]) -> None:
    tracker = PresentationTracker(hold_off_s=1.0)
    now = 0.0
    results = []
    for gap in gaps:
        now += gap
        results.append(tracker.is_new("GP1:A", now))
    assert results.count(True) == 1
