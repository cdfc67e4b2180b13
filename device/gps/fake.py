"""A GPS for tests and demos: it reports the position it was given (or none), with no receiver behind it."""

from __future__ import annotations

import time
from collections.abc import Callable

from device.gps.base import Fix, GpsState, GpsStatus


class FakeGps:
    """Reports ``position`` (lat, lon, accuracy in metres) while it is set; ``None`` is a receiver with no fix."""

    def __init__(
        self,
        position: tuple[float, float, float | None] | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.position = position
        self.clock = clock
        self.reads = 0
        self.closed = False

    def read(self) -> Fix | None:
        """The set position as a fresh fix, or None."""
        self.reads += 1
        if self.position is None:
            return None
        lat, lon, accuracy = self.position
        return Fix(lat, lon, accuracy, self.clock(), 1, 8)

    def status(self) -> GpsStatus:
        """Fix or no fix."""
        if self.position is None:
            return GpsStatus(GpsState.NO_FIX, "the (fake) receiver has no fix", self.reads, 0)
        return GpsStatus(GpsState.FIX, "", self.reads, 0)

    def close(self) -> None:
        """Mark closed."""
        self.closed = True
