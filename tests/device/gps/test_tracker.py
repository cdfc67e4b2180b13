"""The GPS reader thread: newest fix for the form, status for the page, a failing driver never ends it."""

from __future__ import annotations

import threading
import time

from device.clock import FakeClock
from device.gps.base import FIX_STALE_S, Fix, GpsState, GpsStatus
from device.gps.fake import FakeGps
from device.gps.tracker import PositionTracker

WAIT_S = 10.0


def wait(condition: object) -> bool:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return True
        time.sleep(0.01)
    return False


def test_the_thread_keeps_the_newest_fix_and_closes_the_driver() -> None:
    gps = FakeGps((31.23, 121.47, 4.0))
    tracker = PositionTracker(gps)
    stop = threading.Event()
    thread = threading.Thread(target=tracker.run, args=(stop,))
    thread.start()
    try:
        assert wait(lambda: tracker.latest() is not None)
        fix = tracker.latest()
        assert fix is not None
        assert (fix.lat, fix.lon, fix.accuracy_m) == (31.23, 121.47, 4.0)
        gps.position = None
        assert wait(lambda: tracker.latest() is None)
        assert tracker.status().state is GpsState.NO_FIX
    finally:
        stop.set()
        thread.join(WAIT_S)
    assert gps.closed


def test_a_fix_the_thread_stopped_confirming_goes_stale() -> None:
    clock = FakeClock()
    tracker = PositionTracker(FakeGps((1.0, 2.0, None), clock=clock.monotonic), clock=clock.monotonic)
    tracker.poll()
    assert tracker.latest() is not None
    assert tracker.status().state is GpsState.FIX
    clock.advance(FIX_STALE_S + 1)
    assert tracker.latest() is None
    assert tracker.status().state is GpsState.NO_FIX


def test_no_gps_configured() -> None:
    tracker = PositionTracker(None)
    tracker.run(threading.Event())  # returns at once
    assert tracker.latest() is None
    assert tracker.status().state is GpsState.OFF


class Broken:
    def __init__(self) -> None:
        self.calls = 0
        self.closed = False

    def read(self) -> Fix | None:
        self.calls += 1
        raise RuntimeError("driver bug")

    def status(self) -> GpsStatus:
        return GpsStatus(GpsState.NO_DATA, "")

    def close(self) -> None:
        self.closed = True


def test_a_failing_driver_is_reported_and_the_thread_goes_on() -> None:
    gps = Broken()
    tracker = PositionTracker(gps)
    stop = threading.Event()
    thread = threading.Thread(target=tracker.run, args=(stop,))
    thread.start()
    try:
        assert wait(lambda: gps.calls >= 2)
    finally:
        stop.set()
        thread.join(WAIT_S)
    assert tracker.failures >= 2
    assert tracker.status().state is GpsState.ERROR
    assert "driver bug" in tracker.status().reason
    assert gps.closed
