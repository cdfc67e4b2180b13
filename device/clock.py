"""Time on a terminal that may have no RTC: where the time comes from, and whether it can be believed.

``ClockTrust`` keeps the newest time it trusted (NTP synchronised, or time from the hub) persisted in the store; a
clock that reads earlier than that has gone backwards (no RTC, a flat battery, a reboot offline) and the decision
refuses ``pass`` with ``clock_unsynced``. Time from the hub is applied as an offset, so a terminal without the
right to set the system clock still decides on the hub's time.
"""

from __future__ import annotations

import time
from enum import StrEnum
from pathlib import Path
from typing import Protocol

from protocol.decision import ClockState

PERSIST_EVERY_S = 60.0
"""How often the trusted time is written to the SD card while the clock is trusted."""
HUB_TRUST_S = 6 * 3600.0
"""Time from the hub is believed for this long (monotonic) after it was received."""
TIMESYNCD_FLAG = Path("/run/systemd/timesync/synchronized")


class TimeSource(StrEnum):
    """Where the terminal's time came from when it decided."""

    HUB = "hub"
    NTP = "ntp"
    UNTRUSTED = "untrusted"


class Clock(Protocol):
    """Wall time and monotonic time."""

    def time(self) -> float:
        """Unix seconds."""

    def monotonic(self) -> float:
        """Seconds that never go backwards."""


class SystemClock:
    """The real clocks."""

    def time(self) -> float:
        """Unix seconds from the system clock."""
        return time.time()

    def monotonic(self) -> float:
        """The monotonic clock."""
        return time.monotonic()


class FakeClock:
    """A clock tests move by hand."""

    def __init__(self, now: float = 1_800_000_000.0, mono: float = 1000.0) -> None:
        self.now = now
        self.mono = mono

    def time(self) -> float:
        """The set wall time."""
        return self.now

    def monotonic(self) -> float:
        """The set monotonic time."""
        return self.mono

    def advance(self, seconds: float) -> None:
        """Move both clocks forward."""
        self.now += seconds
        self.mono += seconds


class NtpStatus(Protocol):
    """Whether the system clock is synchronised by NTP."""

    def synchronized(self) -> bool:
        """True when NTP has synchronised the clock."""


class TimesyncdStatus:
    """systemd-timesyncd creates a flag file once it has synchronised the clock."""

    def __init__(self, flag: Path = TIMESYNCD_FLAG) -> None:
        self.flag = flag

    def synchronized(self) -> bool:
        """True when the flag file exists."""
        return self.flag.exists()


class MetaStore(Protocol):
    """Where the trusted time is persisted (the device store)."""

    def get_meta(self, key: str) -> str | None:
        """Read a value."""

    def set_meta(self, key: str, value: str) -> None:
        """Write a value."""


class ClockTrust:
    """The terminal's view of its own clock."""

    KEY = "last_trusted_time"

    def __init__(self, clock: Clock, store: MetaStore, ntp: NtpStatus) -> None:
        self.clock = clock
        self.store = store
        self.ntp = ntp
        saved = store.get_meta(self.KEY)
        self.last_trusted: float | None = float(saved) if saved else None
        self._offset = 0.0
        self._hub_at: float | None = None
        self._persisted_at: float | None = None
        self._persist_due = False

    def now(self) -> float:
        """Wall time, corrected by the hub's offset when the hub gave one."""
        return self.clock.time() + self._offset

    def source(self) -> TimeSource:
        """Where the current time comes from."""
        if self._hub_at is not None and self.clock.monotonic() - self._hub_at < HUB_TRUST_S:
            return TimeSource.HUB
        if self.ntp.synchronized():
            return TimeSource.NTP
        return TimeSource.UNTRUSTED

    def hub_time(self, hub_now: float) -> None:
        """The hub told us the time (with its ack or config): adopt it as an offset and trust it.

        Called from the sync thread: it only updates memory; the next :meth:`tick`, on the thread that owns the
        store's connection, persists it.
        """
        self._offset = hub_now - self.clock.time()
        self._hub_at = self.clock.monotonic()
        now = self.now()
        if self.last_trusted is None or now > self.last_trusted:
            self.last_trusted = now
        self._persist_due = True

    def tick(self, *, force: bool = False) -> None:
        """While the clock is trusted, persist the time now and then, so a later backwards clock is noticed.

        Only the thread that owns the store's connection calls this (the terminal's housekeeping).
        """
        if self.source() is TimeSource.UNTRUSTED:
            return
        now = self.now()
        if self.last_trusted is None or now > self.last_trusted:
            self.last_trusted = now
        mono = self.clock.monotonic()
        if force or self._persist_due or self._persisted_at is None or mono - self._persisted_at >= PERSIST_EVERY_S:
            self.store.set_meta(self.KEY, repr(self.last_trusted))
            self._persisted_at = mono
            self._persist_due = False

    def state(self) -> ClockState:
        """What the decision needs: the newest time ever trusted."""
        return ClockState(last_trusted=self.last_trusted)
