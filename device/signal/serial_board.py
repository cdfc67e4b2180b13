"""The RP2040 signal board on USB serial: light, buzzer and gate through the line protocol of
``protocol/signal_board.py``, plus the heartbeat that keeps its fail-safe from closing the gate.

The driver takes an open port (pyserial's ``Serial`` or anything with ``write`` and ``readline`` and a read
timeout); the composition root opens it. Calls are serialised with a lock (the scan loop and the heartbeat
thread share the port) and never wait longer than the port's timeout for a reply.
"""

from __future__ import annotations

import logging
import threading
from typing import Protocol

from device.signal.base import SIGNALS, SignalError
from protocol import signal_board as line
from protocol.reasons import Decision
from protocol.signal_board import Command, LineError, Reply, Verb

log = logging.getLogger(__name__)

MAX_STRAY_LINES = 8
"""Lines from an earlier, timed-out command that may be skipped while looking for a reply."""


class SerialPort(Protocol):
    """What the driver needs of pyserial's Serial (opened with a read timeout)."""

    def write(self, data: bytes, /) -> int | None:
        """Write bytes."""

    def readline(self) -> bytes:
        """Read one line, or what arrived before the timeout."""

    def reset_input_buffer(self) -> None:
        """Drop unread input."""


class SerialBoard:
    """Indicator and gate in one: the signal board."""

    def __init__(self, port: SerialPort) -> None:
        self.port = port
        self._lock = threading.Lock()
        self._next_id = 1
        self.errors = 0

    def _id(self) -> int:
        command_id = self._next_id
        self._next_id = self._next_id % line.MAX_ID + 1
        return command_id

    def _send(self, command: Command) -> Reply:
        with self._lock:
            self.port.write(line.encode(command))
            for _ in range(MAX_STRAY_LINES):
                raw = self.port.readline()
                if not raw.endswith(b"\n"):
                    self.errors += 1
                    raise SignalError("signal board did not answer: check the USB cable and that the board runs")
                try:
                    reply = line.parse_reply(raw)
                except LineError as exc:
                    self.errors += 1
                    raise SignalError(f"signal board sent garbage ({exc}): re-flash the board") from exc
                if reply.id == command.id:
                    if not reply.ok:
                        self.errors += 1
                        raise SignalError(f"signal board refused {command.verb.value}: {reply.text}")
                    return reply
                log.debug("skipping a late reply %s while waiting for %s", reply.id, command.id)
            self.errors += 1
            raise SignalError("signal board replies are out of step: re-plug the board")

    def show(self, decision: Decision) -> None:
        """Light and beep for a decision."""
        lamp, mode, beep = SIGNALS[decision]
        self._send(line.light(self._id(), lamp, mode))
        self._send(line.beep(self._id(), beep))

    def idle(self) -> None:
        """Light off."""
        self._send(line.light(self._id(), line.Light.OFF))

    def open_for(self, ms: int) -> None:
        """Open the gate; the board closes it after ``ms``."""
        self._send(line.gate(self._id(), min(ms, line.MAX_GATE_MS)))

    def close(self) -> None:
        """Close the gate now."""
        self._send(line.gate(self._id(), 0))

    def heartbeat(self) -> None:
        """Tell the board the terminal is alive."""
        self._send(line.simple(self._id(), Verb.HEARTBEAT))

    def status(self) -> str:
        """The board's status line."""
        return self._send(line.simple(self._id(), Verb.STATUS)).text

    def version(self) -> str:
        """The board firmware's name and version."""
        return self._send(line.simple(self._id(), Verb.VERSION)).text
