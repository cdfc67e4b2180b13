"""The local health check after a switch: every check must pass within a bounded time, or the update is undone.

A check is a callable returning None (healthy) or the reason it is not yet; checks are polled together until all
pass or the deadline passes. The terminal's checks:

- the service is up (``systemctl is-active gridpass``: a command that exits 0);
- it runs its housekeeping: ``status.json`` was rewritten after the switch, without a storage or list problem;
- the store is writable (SQLite takes a write lock on ``device.db``, then lets it go);
- the camera delivers frames (``gridpass_frames_total`` on the metrics endpoint grows);
- the signal board answers (``gridpass_signal_errors_total`` does not grow while the board's heartbeat runs).
"""

from __future__ import annotations

import json
import logging
import sqlite3
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import httpx

log = logging.getLogger(__name__)

HEALTH_DEADLINE_S = 90.0
"""How long a new version has to pass every check."""
POLL_S = 1.0
COMMAND_TIMEOUT_S = 10.0
LOCK_TIMEOUT_S = 2.0
METRICS_TIMEOUT_S = 2.0
MAX_STATUS_BYTES = 256 * 1024
MAX_METRICS_BYTES = 1024 * 1024
FRAMES = "gridpass_frames_total"
SIGNAL_ERRORS = "gridpass_signal_errors_total"
BLOCKING_PROBLEMS = ("storage:", "trust list:", "revocation list:", "camera", "signal")


class FatalCheckError(Exception):
    """Raised by a check when waiting cannot help (the service exited): the verdict is "unhealthy" at once."""


class Check(Protocol):
    """One health check."""

    name: str

    def __call__(self) -> str | None:
        """None when healthy, else why not (yet)."""


@dataclass(frozen=True, slots=True)
class HealthResult:
    """The verdict: healthy, or the last reason of every check that did not pass."""

    healthy: bool
    reasons: dict[str, str]


def run_checks(
    checks: Sequence[Check], *, deadline_s: float, monotonic: Callable[[], float], wait: Callable[[float], object],
    poll_s: float = POLL_S,
) -> HealthResult:  # fmt: skip
    """Poll ``checks`` until all pass (healthy) or ``deadline_s`` has passed (not)."""
    deadline = monotonic() + deadline_s
    while True:
        reasons: dict[str, str] = {}
        for check in checks:
            try:
                reason = check()
            except FatalCheckError as exc:
                return HealthResult(healthy=False, reasons={**reasons, check.name: str(exc)})
            except Exception as exc:  # noqa: BLE001 - a check that breaks is a failed check, never a crashed update
                reason = f"the check failed: {exc}"
            if reason is not None:
                reasons[check.name] = reason
        if not reasons:
            return HealthResult(healthy=True, reasons={})
        if monotonic() >= deadline:
            return HealthResult(healthy=False, reasons=reasons)
        wait(poll_s)


@dataclass
class CommandCheck:
    """Healthy when a command exits 0 (``systemctl is-active --quiet gridpass``)."""

    name: str
    argv: Sequence[str]

    def __call__(self) -> str | None:
        """Run it."""
        try:
            result = subprocess.run(  # noqa: S603 - a fixed argument list from the installer's own settings
                list(self.argv), capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"{self.argv[0]} could not run: {exc}"
        if result.returncode != 0:
            return f"{' '.join(self.argv)} exited {result.returncode}: {(result.stdout + result.stderr).strip()[:200]}"
        return None


@dataclass
class StatusFileCheck:
    """Healthy when the terminal's ``status.json`` was written after ``since`` and lists no blocking problem."""

    path: Path
    since: Callable[[], float]
    name: str = "status"

    def __call__(self) -> str | None:
        """Read it."""
        try:
            if self.path.stat().st_mtime < self.since():
                return "the terminal has not written its status since the switch"
            if self.path.stat().st_size > MAX_STATUS_BYTES:
                return "the status file is too large"
            document = json.loads(self.path.read_text())
        except FileNotFoundError:
            return "the terminal has not written its status yet"
        except (OSError, ValueError) as exc:
            return f"the status file cannot be read: {exc}"
        problems = document.get("problems") if isinstance(document, dict) else None
        if not isinstance(problems, list):
            return "the status file has no problems list"
        blocking = [str(p) for p in problems if str(p).startswith(BLOCKING_PROBLEMS)]
        return f"the terminal reports: {'; '.join(blocking)[:300]}" if blocking else None


@dataclass
class StoreWritableCheck:
    """Healthy when SQLite can take the write lock of the terminal's database (and then lets it go)."""

    path: Path
    name: str = "store"

    def __call__(self) -> str | None:
        """Lock and roll back."""
        if not self.path.exists():
            return f"{self.path} does not exist"
        try:
            db = sqlite3.connect(self.path, timeout=LOCK_TIMEOUT_S, isolation_level=None)
            try:
                db.execute("BEGIN IMMEDIATE")
                db.execute("ROLLBACK")
            finally:
                db.close()
        except sqlite3.Error as exc:
            return f"the store is not writable: {exc}"
        return None


def parse_metrics(text: str) -> dict[str, float]:
    """Sum of each metric over its labels, from the Prometheus text format (comments skipped, bad lines ignored)."""
    sums: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name_part, _, value = line.rpartition(" ")
        name = name_part.split("{", 1)[0].strip()
        try:
            number = float(value)
        except ValueError:
            continue
        if name:
            sums[name] = sums.get(name, 0.0) + number
    return sums


@dataclass
class MetricsCheck:
    """Healthy when ``grows`` grew and ``steady`` did not since the first look (frames come, the board answers)."""

    url: str
    grows: tuple[str, ...] = (FRAMES,)
    steady: tuple[str, ...] = (SIGNAL_ERRORS,)
    name: str = "metrics"
    fetch: Callable[[str], str] | None = None
    _baseline: dict[str, float] | None = None

    def _fetch(self) -> str:
        if self.fetch is not None:
            return self.fetch(self.url)
        response = httpx.get(self.url, timeout=METRICS_TIMEOUT_S)
        response.raise_for_status()
        return response.text[:MAX_METRICS_BYTES]

    def __call__(self) -> str | None:
        """Compare with the first sample."""
        try:
            values = parse_metrics(self._fetch())
        except httpx.HTTPError as exc:
            return f"the metrics endpoint does not answer: {exc}"
        if self._baseline is None:
            self._baseline = values
            return "first sample taken"
        reasons = [
            f"{name} does not grow" for name in self.grows if values.get(name, 0.0) <= self._baseline.get(name, 0.0)
        ]
        reasons += [f"{name} grew" for name in self.steady if values.get(name, 0.0) > self._baseline.get(name, 0.0)]
        if any(name.startswith(SIGNAL_ERRORS) for name in reasons):
            self._baseline = values  # errors must stop: judge the next interval afresh
        return "; ".join(reasons) or None
