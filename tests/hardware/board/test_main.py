"""main.py: pins wired as settings.py says, time kept across ticks_ms wrap-around, safe on the way out."""

from __future__ import annotations

from typing import Any

import pytest

from tests.hardware.board import fake_machine
from tests.hardware.board.conftest import BoardCode

TICKS_PERIOD = 1 << 30
"""MicroPython's ticks_ms wraps here on the RP2040."""


class FakeTime:
    """ticks_ms that wraps like MicroPython's; sleep_ms advances it, and fails once, on call ``sleeps`` + 1."""

    def __init__(self, start: int, sleeps: int, fail: type[BaseException] = KeyboardInterrupt) -> None:
        self.ticks = start
        self.sleeps = sleeps
        self.fail = fail
        self.slept: list[int] = []

    def ticks_ms(self) -> int:
        return self.ticks

    @staticmethod
    def ticks_diff(a: int, b: int) -> int:
        return ((a - b + TICKS_PERIOD // 2) % TICKS_PERIOD) - TICKS_PERIOD // 2

    def sleep_ms(self, ms: int) -> None:
        self.slept.append(ms)
        if len(self.slept) == self.sleeps + 1:
            raise self.fail
        self.ticks = (self.ticks + ms) % TICKS_PERIOD


def uart_board(code: BoardCode, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(code.settings, "LINK", "uart")


def test_build_wires_every_pin_and_leaves_it_safe(code: BoardCode) -> None:
    uart = fake_machine.UART(0)
    code.main.build(code.link.UartLink(uart, 64), 0)
    settings = code.settings
    for name in ("RED_PIN", "YELLOW_PIN", "GREEN_PIN", "RELAY_PIN"):
        pin = fake_machine.Pin.created[getattr(settings, name)]
        assert pin.mode == fake_machine.Pin.OUT
        assert pin.level == 0
    assert fake_machine.PWM.created[settings.BUZZER_PIN].duty == 0
    assert len({getattr(settings, name) for name in dir(settings) if name.endswith("_PIN")}) == 7


def test_active_low_relay_modules_rest_high(code: BoardCode, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(code.settings, "RELAY_ACTIVE_HIGH", False)
    monkeypatch.setattr(code.settings, "LAMPS_ACTIVE_HIGH", False)
    board = code.main.build(code.link.UartLink(fake_machine.UART(0), 64), 0)
    relay = fake_machine.Pin.created[code.settings.RELAY_PIN]
    assert relay.level == 1
    assert fake_machine.Pin.created[code.settings.RED_PIN].level == 1
    board.gate.open_for(100, 0)
    assert relay.level == 0


def test_main_runs_over_the_uart_and_stops_safe_on_ctrl_c(code: BoardCode, monkeypatch: pytest.MonkeyPatch) -> None:
    uart_board(code, monkeypatch)
    clock = FakeTime(start=TICKS_PERIOD - 3 * code.settings.POLL_MS, sleeps=10)
    monkeypatch.setattr(code.main, "time", clock)
    built: list[object] = []
    real_build = code.main.build

    def build(link: Any, now_ms: int) -> object:  # noqa: ANN401 - the board's own classes are untyped here
        link.uart.incoming += b"1 H\n2 L green steady\n3 G 3000\n"
        built.append(real_build(link, now_ms))
        return built[-1]

    monkeypatch.setattr(code.main, "build", build)
    code.main.main()
    board: Any = built[0]
    assert board.now_ms == 10 * code.settings.POLL_MS  # across the wrap of ticks_ms
    assert bytes(board.link.uart.sent) == b"1 ok\n2 ok\n3 ok\n"
    assert board.light.state() == "red:steady"
    assert fake_machine.Pin.created[code.settings.RELAY_PIN].level == 0
    assert fake_machine.Pin.created[code.settings.RED_PIN].level == 1


def test_a_crash_closes_the_gate_and_resets(code: BoardCode, monkeypatch: pytest.MonkeyPatch) -> None:
    uart_board(code, monkeypatch)
    monkeypatch.setattr(code.main, "time", FakeTime(start=0, sleeps=3, fail=RuntimeError))
    with pytest.raises(fake_machine.ResetError):
        code.main.main()
    assert fake_machine.Pin.created[code.settings.RELAY_PIN].level == 0
    assert fake_machine.Pin.created[code.settings.RED_PIN].level == 1
