"""NMEA sentences and a serial port for the GPS tests."""

from __future__ import annotations

from functools import reduce


def nmea(body: str) -> bytes:
    """``$body*CS\\r\\n`` with the right checksum."""
    checksum = reduce(lambda acc, ch: acc ^ ord(ch), body, 0)
    return f"${body}*{checksum:02X}\r\n".encode()


def gga(lat: str = "3114.0000", ns: str = "N", lon: str = "12128.0000", ew: str = "E", quality: int = 1) -> bytes:
    """A GGA sentence (Shanghai by default): quality, 8 satellites, HDOP 0.9."""
    return nmea(f"GPGGA,083000.00,{lat},{ns},{lon},{ew},{quality},08,0.9,12.0,M,8.0,M,,")


def rmc(status: str = "A", lat: str = "3114.0000", lon: str = "12128.0000") -> bytes:
    """An RMC sentence."""
    return nmea(f"GPRMC,083000.00,{status},{lat},N,{lon},E,0.0,0.0,221126,,,A")


class BytePort:
    """A serial port over a byte string: ``read_until`` like pyserial's, returning b'' (a timeout) at the end.

    ``chunk`` caps the bytes one call returns, to cut lines as a read timeout would."""

    def __init__(self, data: bytes = b"", chunk: int | None = None) -> None:
        self.data = data
        self.chunk = chunk
        self.closed = False

    def feed(self, data: bytes) -> None:
        """More bytes arrive."""
        self.data += data

    def read_until(self, expected: bytes = b"\n", size: int | None = None) -> bytes:
        """Up to and including ``expected``, at most ``size`` (and ``chunk``) bytes."""
        limit = len(self.data) if size is None else size
        if self.chunk is not None:
            limit = min(limit, self.chunk)
        end = self.data.find(expected)
        take = min(limit, len(self.data) if end < 0 else end + len(expected))
        out, self.data = self.data[:take], self.data[take:]
        return out

    def close(self) -> None:
        """Closed."""
        self.closed = True
