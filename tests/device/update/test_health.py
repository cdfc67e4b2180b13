"""The health checks and their bounded poll."""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import time
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from device.update.health import (
    CommandCheck,
    FatalCheckError,
    MetricsCheck,
    StatusFileCheck,
    StoreWritableCheck,
    parse_metrics,
    run_checks,
)


class Counting:
    """A check that passes from its ``ok_from``-th call on."""

    def __init__(self, name: str, ok_from: int) -> None:
        self.name = name
        self.ok_from = ok_from
        self.calls = 0

    def __call__(self) -> str | None:
        self.calls += 1
        return None if self.calls >= self.ok_from else f"not yet ({self.calls})"


class Clock:
    """Advances only when waited on."""

    def __init__(self) -> None:
        self.now = 0.0

    def wait(self, seconds: float) -> None:
        self.now += seconds


def test_all_checks_must_pass_together_within_the_deadline() -> None:
    clock = Clock()
    a, b = Counting("a", 3), Counting("b", 5)
    result = run_checks([a, b], deadline_s=10, monotonic=lambda: clock.now, wait=clock.wait)
    assert result.healthy
    assert (a.calls, b.calls, clock.now) == (5, 5, 4.0)


def test_the_deadline_bounds_the_wait_and_keeps_the_last_reasons() -> None:
    clock = Clock()
    result = run_checks([Counting("camera", 100)], deadline_s=5, monotonic=lambda: clock.now, wait=clock.wait)
    assert not result.healthy
    assert result.reasons == {"camera": "not yet (6)"}
    assert clock.now == 5.0


def test_a_fatal_check_ends_the_wait_at_once_and_a_broken_one_counts_as_failing() -> None:
    clock = Clock()

    class Dead:
        name = "service"

        def __call__(self) -> str | None:
            raise FatalCheckError("exited 1")

    class Broken:
        name = "broken"

        def __call__(self) -> str | None:
            raise RuntimeError("boom")

    result = run_checks([Broken(), Dead()], deadline_s=100, monotonic=lambda: clock.now, wait=clock.wait)
    assert result == type(result)(healthy=False, reasons={"broken": "the check failed: boom", "service": "exited 1"})
    assert clock.now == 0.0


def test_the_status_file_must_be_fresh_and_free_of_blocking_problems(tmp_path: Path) -> None:
    path = tmp_path / "status.json"
    since = time.time()
    check = StatusFileCheck(path, lambda: since)
    assert check() == "the terminal has not written its status yet"
    path.write_text(json.dumps({"problems": []}))
    os.utime(path, (since - 10, since - 10))
    assert check() == "the terminal has not written its status since the switch"
    path.write_text(json.dumps({"problems": ["storage: 3 events could not be written (disk full?)"]}))
    os.utime(path, (since + 1, since + 1))
    assert "disk full" in (check() or "")
    path.write_text(json.dumps({"problems": ["clock: not synchronised"]}))
    os.utime(path, (since + 1, since + 1))
    assert check() is None


def test_the_store_check_takes_and_releases_the_write_lock(tmp_path: Path) -> None:
    path = tmp_path / "device.db"
    check = StoreWritableCheck(path)
    assert "does not exist" in (check() or "")
    sqlite3.connect(path).close()
    assert check() is None
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        assert "not writable" in (StoreWritableCheck(path)() or "")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert check() is None


def test_frames_must_grow_and_signal_errors_must_not() -> None:
    samples = iter([
        "gridpass_frames_total 10\ngridpass_signal_errors_total{part=\"light\"} 0\n",
        "gridpass_frames_total 10\n",
        "gridpass_frames_total 25\ngridpass_signal_errors_total{part=\"heartbeat\"} 2\n",
        "gridpass_frames_total 40\ngridpass_signal_errors_total{part=\"heartbeat\"} 2\n",
    ])  # fmt: skip
    check = MetricsCheck("http://127.0.0.1:9464/metrics", fetch=lambda _url: next(samples))
    assert check() == "first sample taken"
    assert check() == "gridpass_frames_total does not grow"
    assert check() == "gridpass_signal_errors_total grew"
    assert check() is None


def test_a_command_check_passes_on_exit_zero_only() -> None:
    assert CommandCheck("ok", [sys.executable, "-c", "pass"])() is None
    assert "exited 3" in (CommandCheck("no", [sys.executable, "-c", "raise SystemExit(3)"])() or "")
    assert "could not run" in (CommandCheck("none", ["/nonexistent/systemctl"])() or "")


@given(st.text(max_size=300))
def test_any_metrics_text_parses_to_numbers(text: str) -> None:
    assert all(isinstance(value, float) for value in parse_metrics(text).values())
