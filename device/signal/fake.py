"""Fakes that record what they were told, for tests."""

from __future__ import annotations

import threading

from device.signal.base import SignalError
from protocol.reasons import Decision


class FakeIndicator:
    """Records every decision shown."""

    def __init__(self, *, fail: bool = False) -> None:
        self.shown: list[Decision] = []
        self.idles = 0
        self.fail = fail
        self.changed = threading.Event()

    def show(self, decision: Decision) -> None:
        """Record, or fail like a disconnected board would."""
        if self.fail:
            raise SignalError("fake indicator told to fail")
        self.shown.append(decision)
        self.changed.set()

    def idle(self) -> None:
        """Record a return to rest."""
        self.idles += 1


class FakeGate:
    """Records every opening."""

    def __init__(self) -> None:
        self.opened: list[int] = []
        self.closed = 0

    def open_for(self, ms: int) -> None:
        """Record an opening."""
        self.opened.append(ms)

    def close(self) -> None:
        """Record a close."""
        self.closed += 1
