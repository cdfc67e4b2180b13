"""Lines in and out over the USB serial (a byte stream with a poller) or a UART, without blocking the loop."""

TYPE_CHECKING = False
if TYPE_CHECKING:
    from machine import UART
    from ports import ByteReader, ByteWriter, Poller

MAX_READ_BYTES = 256
"""Bytes taken from the line per loop at most, so that a flood cannot starve the timers."""


class LineBuffer:
    """Bytes in, complete lines out; a line over the limit is dropped whole and reported as None."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._buffer = b""
        self._overlong = False

    def feed(self, data: bytes) -> list[bytes | None]:
        """The lines that ``data`` completes, each with its newline (None for each overlong one)."""
        lines: list[bytes | None] = []
        while data:
            cut = data.find(b"\n")
            if cut < 0:
                self._take(data)
                break
            self._take(data[: cut + 1])
            data = data[cut + 1 :]
            lines.append(None if self._overlong else self._buffer)
            self._buffer = b""
            self._overlong = False
        return lines

    def _take(self, part: bytes) -> None:
        if self._overlong:
            return
        self._buffer += part
        if len(self._buffer) > self.limit:
            self._buffer = b""
            self._overlong = True


class StreamLink:
    """A byte stream read only when its poller says bytes wait: the USB serial is sys.stdin/sys.stdout."""

    def __init__(self, reader: "ByteReader", writer: "ByteWriter", poller: "Poller", limit: int) -> None:
        self.reader = reader
        self.writer = writer
        self.poller = poller
        self.lines = LineBuffer(limit)

    def read_lines(self) -> list[bytes | None]:
        """Lines completed since the last call."""
        data = b""
        while len(data) < MAX_READ_BYTES and self.poller.poll(0):
            byte = self.reader.read(1)
            if not byte:
                break
            data += byte
        return self.lines.feed(data)

    def write(self, data: bytes) -> None:
        """Send a reply."""
        self.writer.write(data)


class UartLink:
    """machine.UART (GP0/GP1 to a Pi's UART)."""

    def __init__(self, uart: "UART", limit: int) -> None:
        self.uart = uart
        self.lines = LineBuffer(limit)

    def read_lines(self) -> list[bytes | None]:
        """Lines completed since the last call."""
        waiting = self.uart.any()
        if waiting <= 0:
            return []
        data = self.uart.read(min(waiting, MAX_READ_BYTES))
        return self.lines.feed(data or b"")

    def write(self, data: bytes) -> None:
        """Send a reply."""
        self.uart.write(data)
