"""Signals printed on a console: for a terminal under test, a demo, or a bench without hardware."""

from __future__ import annotations

import sys
from typing import TextIO

from device.signal.base import SIGNALS
from protocol.reasons import Decision

_COLOURS = {"green": "\033[42;30m", "yellow": "\033[43;30m", "red": "\033[41;37m", "off": ""}
_RESET = "\033[0m"


class ConsoleIndicator:
    """One line per decision, coloured when the stream is a terminal."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout
        self.colour = self.stream.isatty()

    def show(self, decision: Decision) -> None:
        """Print the light and the beep."""
        lamp, mode, beep = SIGNALS[decision]
        label = f" {lamp.value.upper()} ({mode.value}) "
        if self.colour:
            label = f"{_COLOURS[lamp.value]}{label}{_RESET}"
        print(f"[light]{label} [beep] {beep.value}", file=self.stream, flush=True)

    def idle(self) -> None:
        """Nothing to print at rest."""


class ConsoleGate:
    """Prints gate movements."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout

    def open_for(self, ms: int) -> None:
        """Print an opening."""
        print(f"[gate] open for {ms} ms", file=self.stream, flush=True)

    def close(self) -> None:
        """Print a close."""
        print("[gate] closed", file=self.stream, flush=True)
