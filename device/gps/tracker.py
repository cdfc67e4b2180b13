"""The GPS reader thread: reads the receiver, keeps the newest fix and status for the incident form and the status.

The thread owns the driver; everyone else reads :meth:`PositionTracker.latest` and :meth:`PositionTracker.status`,
which never block on the receiver.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from device.gps.base import FIX_STALE_S, Fix, Gps, GpsState, GpsStatus

log = logging.getLogger(__name__)

READ_PAUSE_S = 0.2
"""Pause between reads (a driver's read also waits up to its own timeout for the receiver)."""
OFF = GpsStatus(GpsState.OFF, "no GPS configured: incidents are filed without a position")


class PositionTracker:
    """Holds the newest fix; :meth:`run` is the reader thread's body."""

    def __init__(self, gps: Gps | None, *, clock: Callable[[], float] = time.monotonic, unavailable: str = "") -> None:
        """``gps`` None: none configured, or (with ``unavailable`` saying why) one that could not be opened."""
        self.gps = gps
        self.clock = clock
        self._lock = threading.Lock()
        self._fix: Fix | None = None
        self._status = OFF if gps is None else GpsStatus(GpsState.NO_DATA, "starting the GPS")
        if unavailable:
            self._status = GpsStatus(GpsState.ERROR, unavailable)
        self.failures = 0

    def poll(self) -> None:
        """One read of the receiver (the thread calls this; tests may call it directly)."""
        if self.gps is None:
            return
        fix = self.gps.read()
        status = self.gps.status()
        with self._lock:
            self._fix, self._status = fix, status

    def run(self, stop: threading.Event) -> None:
        """Read until ``stop`` is set, then close the driver."""
        if self.gps is None:
            return
        try:
            while not stop.is_set():
                try:
                    self.poll()
                except Exception as exc:  # top of the thread: a driver bug must not end position reporting
                    self.failures += 1
                    log.exception("GPS read failed")
                    with self._lock:
                        self._fix, self._status = None, GpsStatus(GpsState.ERROR, f"GPS read failed: {exc}")
                stop.wait(READ_PAUSE_S)
        finally:
            self.gps.close()

    def latest(self) -> Fix | None:
        """The newest fix, unless it is older than ``FIX_STALE_S``."""
        with self._lock:
            fix = self._fix
        if fix is None or self.clock() - fix.at > FIX_STALE_S:
            return None
        return fix

    def status(self) -> GpsStatus:
        """The driver's last status (a stale fix reads as no fix)."""
        with self._lock:
            status, fix = self._status, self._fix
        if status.state is GpsState.FIX and (fix is None or self.clock() - fix.at > FIX_STALE_S):
            return GpsStatus(GpsState.NO_FIX, "the GPS reader has not confirmed the fix lately", status.sentences,
                             status.garbage)  # fmt: skip
        return status
