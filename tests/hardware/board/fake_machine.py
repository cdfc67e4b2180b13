"""A fake ``machine`` module for running the board's MicroPython code on the host: pins, PWM, UART that record."""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator
from contextlib import contextmanager


class ResetError(Exception):
    """machine.reset() was called."""


class Pin:
    """A GPIO pin that remembers its level."""

    IN = 0
    OUT = 1
    created: dict[int, Pin] = {}  # noqa: RUF012 - the registry of one fake machine

    def __init__(self, pin_id: int, mode: int = -1, value: int | None = None) -> None:
        self.id = pin_id
        self.mode = mode
        self.level = 0 if value is None else value
        self.writes = 0
        Pin.created[pin_id] = self

    def value(self, level: int | None = None) -> int:
        """Read, or set when given."""
        if level is not None:
            self.level = 1 if level else 0
            self.writes += 1
        return self.level


class PWM:
    """A PWM output: frequency and 16-bit duty."""

    created: dict[int, PWM] = {}  # noqa: RUF012

    def __init__(self, pin: Pin) -> None:
        self.pin = pin
        self.hz = 0
        self.duty = 0
        PWM.created[pin.id] = self

    def freq(self, hz: int | None = None) -> int:
        """Read, or set when given."""
        if hz is not None:
            self.hz = hz
        return self.hz

    def duty_u16(self, duty: int | None = None) -> int:
        """Read, or set when given."""
        if duty is not None:
            self.duty = duty
        return self.duty


class UART:
    """A UART whose receive side the test fills and whose transmit side it reads."""

    def __init__(self, uart_id: int, baudrate: int = 9600, tx: Pin | None = None, rx: Pin | None = None) -> None:
        self.id = uart_id
        self.baudrate = baudrate
        self.tx_pin = tx
        self.rx_pin = rx
        self.incoming = bytearray()
        self.sent = bytearray()

    def any(self) -> int:
        """Bytes waiting."""
        return len(self.incoming)

    def read(self, size: int) -> bytes | None:
        """Up to ``size`` waiting bytes, None when there are none (as MicroPython's)."""
        if not self.incoming:
            return None
        data = bytes(self.incoming[:size])
        del self.incoming[:size]
        return data

    def write(self, data: bytes) -> int:
        """Transmit."""
        self.sent += data
        return len(data)

    def replies(self) -> list[bytes]:
        """Lines sent so far, taken."""
        lines = [line + b"\n" for line in bytes(self.sent).split(b"\n")[:-1]]
        del self.sent[: sum(len(line) for line in lines)]
        return lines


def reset() -> None:
    """The real one reboots the chip."""
    raise ResetError


@contextmanager
def installed() -> Iterator[types.ModuleType]:
    """``machine`` in sys.modules for the duration (the previous entry, if any, restored after)."""
    Pin.created.clear()
    PWM.created.clear()
    module = types.ModuleType("machine")
    for name, value in {"Pin": Pin, "PWM": PWM, "UART": UART, "reset": reset}.items():
        setattr(module, name, value)
    previous = sys.modules.get("machine")
    sys.modules["machine"] = module
    try:
        yield module
    finally:
        if previous is None:
            sys.modules.pop("machine", None)
        else:
            sys.modules["machine"] = previous
