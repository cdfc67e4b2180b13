"""A GPS receiver speaking NMEA 0183 on a serial port (USB or UART), parsed by pynmea2.

The driver takes an open port (a ``serial.Serial`` with a read timeout, or anything with its ``read_until``); it never
opens one itself. Position comes from GGA (fix quality, satellites, HDOP) and RMC (valid flag); GST, when the receiver
sends it, gives the error estimate. Every line is bounded (``MAX_LINE_BYTES``), checksummed (a sentence without a
checksum is refused too), and a line that does not parse is counted as garbage and skipped: a receiver at the wrong
baud rate, line noise or a half-written sentence never stops the reader.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import Any, Protocol

from device.gps.base import FIX_STALE_S, NO_DATA_S, Fix, GpsState, GpsStatus, valid_position

log = logging.getLogger(__name__)

MAX_LINE_BYTES = 256
"""Longest line taken in (NMEA says 82 characters; some receivers' proprietary sentences are longer)."""
MAX_LINES_PER_READ = 32
"""Lines one ``read`` takes in at most, so the reader thread comes up for air between bursts."""
UERE_M = 5.0
"""User equivalent range error assumed to turn HDOP into metres when the receiver sends no GST (a common estimate)."""
GST_STALE_S = 5.0
"""A GST error estimate older than this is not applied to a new fix."""


class SerialPort(Protocol):
    """What the driver needs of a ``serial.Serial``: a bounded read up to a newline (returns early on its timeout)."""

    def read_until(self, expected: bytes = ..., size: int | None = ...) -> bytes:
        """Bytes up to and including ``expected``, at most ``size``; fewer when the port's timeout passed."""

    def close(self) -> None:
        """Release the port."""


class NmeaGps:
    """Reads NMEA lines from ``port``; see the module docs."""

    def __init__(self, port: SerialPort, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.port = port
        self.clock = clock
        self.sentences = 0
        self.garbage = 0
        self._pending = b""
        self._discarding = False
        self._fix: Fix | None = None
        self._no_fix_reason = "waiting for the GPS"
        self._heard_at: float | None = None
        self._started_at = clock()
        self._gst: tuple[float, float] | None = None
        self._error: str | None = None

    # --- input --------------------------------------------------------------------------------------------------

    def _read_line(self) -> tuple[bytes | None, bool]:
        """(a whole line or None, whether any byte arrived)."""
        chunk = self.port.read_until(b"\n", MAX_LINE_BYTES + 1 - len(self._pending))
        if not chunk:
            return None, False
        data = self._pending + chunk
        if data.endswith(b"\n"):
            self._pending = b""
            if self._discarding:  # the tail of an overlong line, already counted
                self._discarding = False
                return None, True
            return data, True
        if len(data) > MAX_LINE_BYTES:
            self._pending = b""
            if not self._discarding:
                self._refuse("line longer than %d bytes", MAX_LINE_BYTES)
                self._discarding = True
            return None, True
        self._pending = data  # a partial line at the port's timeout: the rest comes with the next read
        return None, True

    def read(self) -> Fix | None:
        """Take in up to ``MAX_LINES_PER_READ`` lines; the current fix, or None (the status says why)."""
        try:
            for _ in range(MAX_LINES_PER_READ):
                line, got = self._read_line()
                if line is not None:
                    self.feed(line)
                if not got:
                    break
        except OSError as exc:  # serial.SerialException is an OSError: the receiver was unplugged
            if self._error is None:
                log.warning("GPS port failed: %s", exc)
            self._error = f"the GPS port failed: {exc}"
        else:
            self._error = None
        return self.current()

    def feed(self, line: bytes) -> None:
        """Take one line (with or without its line ending) as if read from the port."""
        try:
            text = line.decode("ascii").strip()
        except UnicodeDecodeError:
            self._refuse("not ASCII")
            return
        if not text:
            return
        if len(text) > MAX_LINE_BYTES:
            self._refuse("line longer than %d bytes", MAX_LINE_BYTES)
            return
        import pynmea2  # noqa: PLC0415 - only on terminals with a serial GPS

        try:
            sentence = pynmea2.parse(text, check=True)
        except pynmea2.SentenceTypeError:
            self._heard()  # a well-formed sentence of a kind we do not use (satellites in view, proprietary)
            return
        except ValueError:  # ParseError and ChecksumError are ValueErrors
            self._refuse("malformed or bad checksum")
            return
        try:
            self._take(sentence)
        except (ValueError, TypeError, AttributeError, OverflowError):  # a checksummed sentence with bad fields
            self._refuse("bad fields")
            return
        self._heard()

    # --- sentences ----------------------------------------------------------------------------------------------

    def _take(self, sentence: Any) -> None:  # noqa: ANN401 - pynmea2 sentences are untyped
        kind = type(sentence).__name__
        now = self.clock()
        if kind == "GGA":
            quality = int(sentence.gps_qual or 0)
            if quality == 0:
                self._lose("the receiver has no fix (GGA quality 0)")
                return
            lat, lon = float(sentence.latitude), float(sentence.longitude)
            sats = int(sentence.num_sats) if sentence.num_sats else None
            hdop = float(sentence.horizontal_dil) if sentence.horizontal_dil else None
            self._set(Fix(lat, lon, self._accuracy(hdop, now), now, quality, sats))
        elif kind == "RMC":
            if sentence.status != "A":
                self._lose("the receiver has no fix (RMC status V)")
                return
            lat, lon = float(sentence.latitude), float(sentence.longitude)
            previous = self._fix
            quality = previous.quality if previous is not None else 1
            sats = previous.sats if previous is not None else None
            accuracy = self._accuracy(None, now) or (previous.accuracy_m if previous is not None else None)
            self._set(Fix(lat, lon, accuracy, now, quality, sats))
        elif kind == "GST":
            sigma_lat, sigma_lon = float(sentence.std_dev_latitude), float(sentence.std_dev_longitude)
            sigma = math.hypot(sigma_lat, sigma_lon)
            if not math.isfinite(sigma) or sigma < 0:
                raise ValueError("GST error estimate is not a finite number")
            self._gst = (sigma, now)

    def _accuracy(self, hdop: float | None, now: float) -> float | None:
        if self._gst is not None and now - self._gst[1] <= GST_STALE_S:
            return round(self._gst[0], 1)
        if hdop is not None and math.isfinite(hdop) and hdop > 0:
            return round(hdop * UERE_M, 1)
        return None

    def _set(self, fix: Fix) -> None:
        if not valid_position(fix.lat, fix.lon):
            raise ValueError("position out of range")
        self._fix = fix

    def _lose(self, reason: str) -> None:
        self._fix = None
        self._no_fix_reason = reason

    def _heard(self) -> None:
        self.sentences += 1
        self._heard_at = self.clock()

    def _refuse(self, why: str, *args: object) -> None:
        self.garbage += 1
        log.debug("GPS line refused: " + why, *args)  # noqa: G003 - the format is ours; args stay lazy

    # --- state --------------------------------------------------------------------------------------------------

    def current(self) -> Fix | None:
        """The fix, while the receiver keeps confirming it."""
        fix = self._fix
        if fix is None or self.clock() - fix.at > FIX_STALE_S:
            return None
        return fix

    def status(self) -> GpsStatus:
        """Why there is or is not a fix."""
        counts = {"sentences": self.sentences, "garbage": self.garbage}
        if self._error is not None:
            return GpsStatus(GpsState.ERROR, self._error, **counts)
        now = self.clock()
        if self.current() is not None:
            return GpsStatus(GpsState.FIX, "", **counts)
        silent_since = self._heard_at if self._heard_at is not None else self._started_at
        if now - silent_since > NO_DATA_S or self._heard_at is None:
            if self.garbage and self._heard_at is None:
                reason = f"only garbage from the GPS ({self.garbage} lines refused): check the baud rate"
            elif self._heard_at is None:
                reason = "nothing from the GPS yet: check the cable and the port"
            else:
                reason = f"nothing from the GPS for {now - silent_since:.0f} s: check the cable"
            return GpsStatus(GpsState.NO_DATA, reason, **counts)
        fix = self._fix
        if fix is not None:  # present but stale: sentences arrive, none confirms the position
            return GpsStatus(GpsState.NO_FIX, f"no fix for {now - fix.at:.0f} s", **counts)
        return GpsStatus(GpsState.NO_FIX, self._no_fix_reason, **counts)

    def close(self) -> None:
        """Close the port."""
        self.port.close()
