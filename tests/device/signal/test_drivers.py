"""Console and GPIO drivers, the GPIO one on recording outputs shaped like gpiozero's."""

from __future__ import annotations

import io

import pytest

from device.signal import gpio
from device.signal.base import SignalError
from device.signal.console import ConsoleGate, ConsoleIndicator
from device.signal.gpio import GpioGate, GpioIndicator
from protocol.reasons import Decision


class RecordingOutput:
    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[object, ...]]] = []

    def on(self) -> None:
        self.calls.append(("on", ()))

    def off(self) -> None:
        self.calls.append(("off", ()))

    def blink(self, on_time: float = 1, off_time: float = 1, n: int | None = None, background: bool = True) -> None:
        self.calls.append(("blink", (on_time, off_time, n)))


def test_console_prints_one_line_per_signal() -> None:
    out = io.StringIO()
    ConsoleIndicator(out).show(Decision.DENY)
    ConsoleGate(out).open_for(1500)
    assert out.getvalue().splitlines() == ["[light] RED (steady)  [beep] deny", "[gate] open for 1500 ms"]


def test_gpio_indicator_lights_one_lamp_and_beeps() -> None:
    green, yellow, red, buzzer = (RecordingOutput() for _ in range(4))
    indicator = GpioIndicator(green, yellow, red, buzzer)
    indicator.show(Decision.PASS)
    assert green.calls == [("on", ())]
    assert yellow.calls == red.calls == [("off", ())]
    assert buzzer.calls[0][0] == "blink"
    indicator.show(Decision.CHECK)
    assert yellow.calls[-1][0] == "blink"
    indicator.idle()
    assert all(lamp.calls[-1] == ("off", ()) for lamp in (green, yellow, red))


def test_gpio_gate_is_one_timed_pulse() -> None:
    relay = RecordingOutput()
    gate = GpioGate(relay)
    gate.open_for(2500)
    gate.close()
    assert relay.calls == [("blink", (2.5, 0, 1)), ("off", ())]


def test_without_gpiozero_the_error_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real_import = builtins.__import__

    def no_gpiozero(name: str, *args: object, **kwargs: object) -> object:
        if name == "gpiozero":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(builtins, "__import__", no_gpiozero)
    with pytest.raises(SignalError, match="pi extra"):
        gpio.from_pins(green=17, yellow=27, red=22, buzzer=None, relay=None)
