"""Position from gpsd (the GPS daemon) over its JSON protocol on TCP, by default 127.0.0.1:2947.

The driver is handed a function that opens the connection (so tests give it their own loopback server), sends
``?WATCH={"enable":true,"json":true}`` and reads newline-delimited JSON reports: ``TPV`` (mode, lat, lon, eph or
epx/epy) gives the position, ``SKY`` the satellites used. A line that is not a JSON object of a known shape is
counted as garbage and skipped; a lost connection is reported in the status and reopened after ``RECONNECT_S``.
"""

from __future__ import annotations

import json
import logging
import math
import socket
import time
from collections.abc import Callable
from typing import Any

from device.gps.base import FIX_STALE_S, NO_DATA_S, Fix, GpsState, GpsStatus, valid_position

log = logging.getLogger(__name__)

WATCH = b'?WATCH={"enable":true,"json":true}\n'
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 2947
MAX_LINE_BYTES = 16 * 1024
"""Longest report taken in (a SKY report with every satellite in view is a few KiB)."""
RECV_BYTES = 4096
READ_TIMEOUT_S = 1.0
"""How long one ``read`` waits for gpsd to say something."""
CONNECT_TIMEOUT_S = 2.0
RECONNECT_S = 5.0
"""Wait between attempts to reach gpsd."""


def tcp_connector(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> Callable[[], socket.socket]:
    """A function opening a TCP connection to gpsd."""

    def connect() -> socket.socket:
        return socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S)

    return connect


def _number(report: dict[str, Any], key: str) -> float | None:
    value = report.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


class GpsdGps:
    """A gpsd client; see the module docs."""

    def __init__(self, connect: Callable[[], socket.socket], *, clock: Callable[[], float] = time.monotonic) -> None:
        self.connect = connect
        self.clock = clock
        self.sentences = 0
        self.garbage = 0
        self._sock: socket.socket | None = None
        self._buffer = b""
        self._discarding = False
        self._next_attempt = 0.0
        self._error: str | None = None
        self._fix: Fix | None = None
        self._sats: int | None = None
        self._no_fix_reason = "waiting for gpsd"
        self._heard_at: float | None = None
        self._started_at = clock()

    def _open(self) -> socket.socket | None:
        if self._sock is not None:
            return self._sock
        now = self.clock()
        if now < self._next_attempt:
            return None
        self._next_attempt = now + RECONNECT_S
        try:
            sock = self.connect()
            sock.settimeout(READ_TIMEOUT_S)
            sock.sendall(WATCH)
        except OSError as exc:
            self._failed(f"cannot reach gpsd: {exc}")
            return None
        self._sock, self._buffer, self._discarding = sock, b"", False
        return sock

    def _failed(self, message: str) -> None:
        if self._error != message:
            log.warning("GPS: %s", message)
        self._error = message
        self._fix = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def read(self) -> Fix | None:
        """Take in what gpsd sent within ``READ_TIMEOUT_S``; the current fix, or None."""
        sock = self._open()
        if sock is None:
            return self.current()
        try:
            data = sock.recv(RECV_BYTES)
        except TimeoutError:
            return self.current()
        except OSError as exc:
            self._failed(f"lost gpsd: {exc}")
            return None
        if not data:
            self._failed("gpsd closed the connection")
            return None
        self._error = None
        self._take_bytes(data)
        return self.current()

    def _take_bytes(self, data: bytes) -> None:
        self._buffer += data
        while True:
            line, newline, rest = self._buffer.partition(b"\n")
            if not newline:
                if len(self._buffer) > MAX_LINE_BYTES:
                    self._buffer = b""
                    if not self._discarding:
                        self.garbage += 1
                        self._discarding = True
                return
            self._buffer = rest
            if self._discarding:
                self._discarding = False
                continue
            self.feed(line)

    def feed(self, line: bytes) -> None:
        """Take one report line, as if received."""
        if not line.strip():
            return
        if len(line) > MAX_LINE_BYTES:
            self.garbage += 1
            return
        try:
            report = json.loads(line)
        except (ValueError, RecursionError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
            self.garbage += 1
            return
        if not isinstance(report, dict) or not isinstance(report.get("class"), str):
            self.garbage += 1
            return
        if not self._take(report):
            self.garbage += 1
            return
        self.sentences += 1
        self._heard_at = self.clock()

    def _take(self, report: dict[str, Any]) -> bool:
        kind = report["class"]
        if kind == "TPV":
            mode = report.get("mode")
            if isinstance(mode, bool) or not isinstance(mode, int):
                return False
            if mode < 2:
                self._fix = None
                self._no_fix_reason = f"gpsd reports no fix (mode {mode})"
                return True
            lat, lon = _number(report, "lat"), _number(report, "lon")
            if lat is None or lon is None or not valid_position(lat, lon):
                return False
            self._fix = Fix(lat, lon, self._accuracy(report), self.clock(), 1, self._sats)
        elif kind == "SKY":
            used = _number(report, "uSat")
            satellites = report.get("satellites")
            if used is None and isinstance(satellites, list):
                used = float(sum(1 for s in satellites if isinstance(s, dict) and s.get("used") is True))
            if used is not None and 0 <= used < 1000:
                self._sats = int(used)
        elif kind == "ERROR":
            message = report.get("message")
            self._no_fix_reason = f"gpsd: {str(message)[:120]}"
        return True

    @staticmethod
    def _accuracy(report: dict[str, Any]) -> float | None:
        eph = _number(report, "eph")
        if eph is None:
            epx, epy = _number(report, "epx"), _number(report, "epy")
            eph = math.hypot(epx, epy) if epx is not None and epy is not None else None
        return round(eph, 1) if eph is not None and 0 <= eph < 1e6 else None

    def current(self) -> Fix | None:
        """The fix, while gpsd keeps confirming it."""
        fix = self._fix
        if fix is None or self.clock() - fix.at > FIX_STALE_S:
            return None
        return fix

    def status(self) -> GpsStatus:
        """Why there is or is not a fix."""
        counts = {"sentences": self.sentences, "garbage": self.garbage}
        if self._error is not None:
            return GpsStatus(GpsState.ERROR, self._error, **counts)
        if self.current() is not None:
            return GpsStatus(GpsState.FIX, "", **counts)
        now = self.clock()
        if self._heard_at is None:
            return GpsStatus(GpsState.NO_DATA, "nothing from gpsd yet", **counts)
        if now - self._heard_at > NO_DATA_S:
            return GpsStatus(GpsState.NO_DATA, f"nothing from gpsd for {now - self._heard_at:.0f} s", **counts)
        if self._fix is not None:
            return GpsStatus(GpsState.NO_FIX, f"no fix for {now - self._fix.at:.0f} s", **counts)
        return GpsStatus(GpsState.NO_FIX, self._no_fix_reason, **counts)

    def close(self) -> None:
        """Close the connection."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None
