"""Lamps, buzzer and gate relay on Raspberry Pi GPIO through gpiozero.

The drivers take gpiozero-like output objects (anything with ``on``, ``off`` and ``blink``); ``from_pins`` builds
real gpiozero devices and is the only place gpiozero is imported, lazily, so this module loads on any machine.
"""

from __future__ import annotations

from typing import Protocol

from device.signal.base import SIGNALS, SignalError
from protocol.reasons import Decision
from protocol.signal_board import Beep, Light, LightMode

BLINK_ON_S = 0.25
BLINK_OFF_S = 0.25
SIGNAL_S = 2.0
BEEPS: dict[Beep, tuple[float, float, int]] = {
    Beep.OK: (0.08, 0.0, 1),
    Beep.CHECK: (0.12, 0.12, 2),
    Beep.DENY: (0.5, 0.0, 1),
    Beep.ALARM: (0.1, 0.1, 5),
}
"""(on seconds, off seconds, repeats) per pattern: short for pass, long for deny, rapid for a forgery."""


class Output(Protocol):
    """The part of gpiozero's LED / Buzzer / DigitalOutputDevice used here."""

    def on(self) -> None:
        """Switch on."""

    def off(self) -> None:
        """Switch off."""

    def blink(self, on_time: float = ..., off_time: float = ..., n: int | None = ..., background: bool = ...) -> None:
        """Blink ``n`` times (forever when None) in gpiozero's background thread."""


class GpioIndicator:
    """Three lamps and an optional buzzer."""

    def __init__(self, green: Output, yellow: Output, red: Output, buzzer: Output | None = None) -> None:
        self.lamps = {Light.GREEN: green, Light.YELLOW: yellow, Light.RED: red}
        self.buzzer = buzzer

    def show(self, decision: Decision) -> None:
        """Light the decision's lamp (blinking where the spec's colour calls for a second look) and beep."""
        lamp, mode, beep = SIGNALS[decision]
        for name, output in self.lamps.items():
            if name is not lamp:
                output.off()
        chosen = self.lamps[lamp]
        if mode is LightMode.BLINK:
            chosen.blink(on_time=BLINK_ON_S, off_time=BLINK_OFF_S, n=int(SIGNAL_S / (BLINK_ON_S + BLINK_OFF_S)))
        else:
            chosen.on()
        if self.buzzer is not None and beep in BEEPS:
            on_s, off_s, repeats = BEEPS[beep]
            self.buzzer.blink(on_time=on_s, off_time=off_s, n=repeats)

    def idle(self) -> None:
        """All lamps off."""
        for output in self.lamps.values():
            output.off()


class GpioGate:
    """A relay that holds the gate open while energised."""

    def __init__(self, relay: Output) -> None:
        self.relay = relay

    def open_for(self, ms: int) -> None:
        """One timed pulse of the relay (gpiozero switches it off by itself)."""
        self.relay.blink(on_time=ms / 1000, off_time=0, n=1)

    def close(self) -> None:
        """De-energise now."""
        self.relay.off()


def from_pins(
    *, green: int, yellow: int, red: int, buzzer: int | None, relay: int | None
) -> tuple[GpioIndicator, GpioGate | None]:
    """Real gpiozero devices on BCM pin numbers (the device profile gives them)."""
    try:
        from gpiozero import LED, Buzzer, DigitalOutputDevice  # noqa: PLC0415 - only on a Pi
    except ImportError as exc:
        raise SignalError("gpiozero is not installed: install the pi extra (pip install 'gridpass[pi]')") from exc
    indicator = GpioIndicator(LED(green), LED(yellow), LED(red), Buzzer(buzzer) if buzzer is not None else None)
    gate = GpioGate(DigitalOutputDevice(relay)) if relay is not None else None
    return indicator, gate
