"""A GPS receiver for the demo's handheld: NMEA 0183 sentences (GGA and RMC, with checksums) written once a second
to a pseudo-terminal, whose other end the handheld opens as its serial GPS port, exactly as it would a USB receiver.
The position wanders a few metres around a point inside the handheld's grid cell."""

from __future__ import annotations

import contextlib
import math
import os
import random
import threading
import time
import tty
from pathlib import Path

SENTENCE_EVERY_S = 1.0


def _checksum(body: str) -> str:
    value = 0
    for char in body:
        value ^= ord(char)
    return f"{value:02X}"


def _angle(value: float, *, lat: bool) -> tuple[str, str]:
    hemisphere = ("N" if value >= 0 else "S") if lat else ("E" if value >= 0 else "W")
    value = abs(value)
    degrees = int(value)
    minutes = (value - degrees) * 60
    return (f"{degrees:02d}{minutes:07.4f}" if lat else f"{degrees:03d}{minutes:07.4f}"), hemisphere


def sentences(lat: float, lon: float, when: float) -> list[str]:
    """A GGA and an RMC sentence for a fix at ``lat``, ``lon`` at Unix time ``when``."""
    stamp = time.strftime("%H%M%S", time.gmtime(when)) + ".00"
    date = time.strftime("%d%m%y", time.gmtime(when))
    la, ns = _angle(lat, lat=True)
    lo, ew = _angle(lon, lat=False)
    bodies = [
        f"GPGGA,{stamp},{la},{ns},{lo},{ew},1,08,0.9,12.0,M,8.0,M,,",
        f"GPRMC,{stamp},A,{la},{ns},{lo},{ew},0.4,90.0,{date},,,A",
    ]
    return [f"${body}*{_checksum(body)}\r\n" for body in bodies]


class GpsFeed:
    """A pty and a thread writing sentences to it until stopped."""

    def __init__(self, lat: float, lon: float, seed: int) -> None:
        self.lat, self.lon = lat, lon
        self.rng = random.Random(seed)  # noqa: S311 - a simulated wander, not a secret
        self.master, slave = os.openpty()
        tty.setraw(slave)  # no echo, no line discipline: bytes as a USB receiver sends them
        os.set_blocking(self.master, False)  # nobody reading (the handheld restarting): drop, never block
        self.port = Path(os.ttyname(slave))
        self._slave = slave
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="demo-gps", daemon=True)

    def start(self) -> None:
        """Start writing."""
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(SENTENCE_EVERY_S):
            drift = self.rng.uniform(0, 2 * math.pi)
            lat = self.lat + 0.00003 * math.sin(drift)
            lon = self.lon + 0.00003 * math.cos(drift)
            try:
                for sentence in sentences(lat, lon, time.time()):
                    os.write(self.master, sentence.encode("ascii"))
            except BlockingIOError:
                continue  # the buffer is full: nobody reads now; a receiver's sentences are lost the same way
            except OSError:
                return

    def close(self) -> None:
        """Stop and close the pty."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        for fd in (self.master, self._slave):
            with contextlib.suppress(OSError):
                os.close(fd)
