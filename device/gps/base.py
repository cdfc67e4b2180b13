"""What every position source gives: :class:`Fix` objects from a :class:`Gps`, and a :class:`GpsStatus` saying why
there is none.

A GPS is read by one thread (:class:`~device.gps.tracker.PositionTracker`); ``read`` may block for up to its
driver's timeout. ``read`` never raises on bad input from the receiver: garbage is counted and skipped, and the
status says what is wrong (no data, no fix, garbage, the receiver unreachable).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

FIX_STALE_S = 10.0
"""A fix not confirmed by the receiver for this long is no longer the terminal's position."""
NO_DATA_S = 5.0
"""No sentence or report at all for this long: the receiver is silent (unplugged, wrong port or baud rate)."""


class GpsError(Exception):
    """A GPS that cannot be used at all (the port or the daemon cannot be opened); the message says what to check."""


@dataclass(frozen=True, slots=True)
class Fix:
    """One position."""

    lat: float
    """Degrees north, WGS 84."""
    lon: float
    """Degrees east, WGS 84."""
    accuracy_m: float | None
    """Estimated horizontal error (one sigma) in metres, when the receiver says or it can be estimated."""
    at: float
    """Monotonic seconds (the clock the driver was given) when the terminal received it."""
    quality: int
    """Fix quality: 1 GPS, 2 DGPS, 4/5 RTK (NMEA GGA numbering); 2 or 3 from gpsd's mode is mapped to 1."""
    sats: int | None = None
    """Satellites used, when known."""


def valid_position(lat: float, lon: float) -> bool:
    """A finite latitude and longitude inside their ranges (and not exactly 0,0: receivers report that with no fix)."""
    return (
        math.isfinite(lat)
        and math.isfinite(lon)
        and -90.0 <= lat <= 90.0
        and -180.0 <= lon <= 180.0
        and not (lat == 0.0 and lon == 0.0)
    )


class GpsState(StrEnum):
    """Where the GPS stands."""

    FIX = "fix"
    NO_FIX = "no_fix"
    """The receiver talks but has no position (indoors, cold start)."""
    NO_DATA = "no_data"
    """Nothing usable heard from the receiver lately."""
    ERROR = "error"
    """The receiver cannot be reached (port or daemon)."""
    OFF = "off"
    """No GPS configured."""


@dataclass(frozen=True, slots=True)
class GpsStatus:
    """What the status page and ``gridpass device status`` say about the GPS."""

    state: GpsState
    reason: str
    """A sentence for the worker or the technician; empty when there is a fix."""
    sentences: int = 0
    """Sentences or reports understood since start."""
    garbage: int = 0
    """Lines refused since start (bad checksum, malformed, too long, not text)."""

    def as_dict(self) -> dict[str, object]:
        """JSON-ready form."""
        return {"state": self.state.value, "reason": self.reason, "sentences": self.sentences, "garbage": self.garbage}


class Gps(Protocol):
    """A position source."""

    def read(self) -> Fix | None:
        """Take in what the receiver has sent (bounded by the driver's timeout); the current fix, or None."""

    def status(self) -> GpsStatus:
        """Why there is or is not a fix, and the counters."""

    def close(self) -> None:
        """Release the port or connection."""
