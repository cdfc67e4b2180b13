"""What the scan loop asks of the light, the buzzer and the gate."""

from __future__ import annotations

from typing import Protocol

from protocol.reasons import Decision
from protocol.signal_board import Beep, Light, LightMode

SIGNALS: dict[Decision, tuple[Light, LightMode, Beep]] = {
    Decision.PASS: (Light.GREEN, LightMode.STEADY, Beep.OK),
    Decision.CHECK: (Light.YELLOW, LightMode.BLINK, Beep.CHECK),
    Decision.DENY: (Light.RED, LightMode.STEADY, Beep.DENY),
    Decision.INVALID: (Light.RED, LightMode.BLINK, Beep.ALARM),
}
"""The spec's indicator colours; a code that is not genuine blinks and sounds the alarm."""


class SignalError(RuntimeError):
    """A light, buzzer or gate did not do what it was told; the message says what to check."""


class Indicator(Protocol):
    """Light and buzzer."""

    def show(self, decision: Decision) -> None:
        """Show a decision (colour and sound)."""

    def idle(self) -> None:
        """Back to the resting state between people."""


class Gate(Protocol):
    """The gate relay."""

    def open_for(self, ms: int) -> None:
        """Open the gate, closing again by itself after ``ms`` milliseconds."""

    def close(self) -> None:
        """Close the gate now."""
