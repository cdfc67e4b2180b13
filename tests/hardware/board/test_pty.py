"""The board's loop on one end of a pseudo-terminal and the terminal's real driver (pyserial) on the other."""

from __future__ import annotations

import os
import select
import threading
import tty
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import serial

from device.signal.base import SignalError
from device.signal.serial_board import SerialBoard
from protocol.reasons import Decision
from tests.hardware.board import fake_machine
from tests.hardware.board.conftest import BoardCode

REPLY_TIMEOUT_S = 5.0
"""pyserial's read timeout: only reached when the board does not answer."""
LOOP_PAUSE_S = 0.001
POLL_ROUNDS = 2000


class Ticks:
    """The board's millisecond count, moved by the test."""

    def __init__(self) -> None:
        self.now_ms = 0


@dataclass
class PtyRig:
    """A running board and the driver that talks to it."""

    code: BoardCode
    board: Any
    driver: SerialBoard
    ticks: Ticks
    steps: threading.Event

    def pin(self, setting: str) -> int:
        return fake_machine.Pin.created[getattr(self.code.settings, setting)].level

    def advance(self, ms: int) -> None:
        """Move the board's time on and wait until it has stepped with it (bounded)."""
        self.ticks.now_ms += ms
        for _ in range(3):
            self.steps.clear()
            assert self.steps.wait(REPLY_TIMEOUT_S), "the board loop stopped"


@pytest.fixture
def pty_rig(code: BoardCode) -> Iterator[PtyRig]:
    master, slave = os.openpty()
    tty.setraw(master)
    port = serial.Serial(os.ttyname(slave), 115200, timeout=REPLY_TIMEOUT_S)
    poller = select.poll()
    poller.register(master, select.POLLIN)
    stream = open(master, "r+b", buffering=0, closefd=False)  # noqa: SIM115 - closed below, after the thread
    link = code.link.StreamLink(stream, stream, poller, code.wire.MAX_LINE_BYTES)
    board = code.main.build(link, 0)
    ticks, stop, steps = Ticks(), threading.Event(), threading.Event()

    def loop() -> None:
        while not stop.is_set():
            board.step(ticks.now_ms)
            steps.set()
            stop.wait(LOOP_PAUSE_S)

    thread = threading.Thread(target=loop, name="board-loop")
    thread.start()
    try:
        yield PtyRig(code, board, SerialBoard(port), ticks, steps)
    finally:
        stop.set()
        thread.join(timeout=REPLY_TIMEOUT_S)
        port.close()
        stream.close()
        os.close(master)
        os.close(slave)


def test_the_driver_drives_the_board(pty_rig: PtyRig) -> None:
    driver = pty_rig.driver
    assert driver.version() == f"{pty_rig.code.manifest.NAME} {pty_rig.code.manifest.VERSION}"
    driver.heartbeat()
    driver.show(Decision.PASS)
    assert pty_rig.pin("GREEN_PIN") == 1
    assert pty_rig.pin("RED_PIN") == 0
    driver.open_for(3000)
    assert pty_rig.pin("RELAY_PIN") == 1
    assert driver.status() == "light=green:steady gate=open failsafe=0 up=0"
    pty_rig.advance(3000)
    assert pty_rig.pin("RELAY_PIN") == 0
    driver.show(Decision.DENY)
    assert pty_rig.pin("RED_PIN") == 1
    driver.idle()
    assert {pty_rig.pin(name) for name in ("RED_PIN", "YELLOW_PIN", "GREEN_PIN")} == {0}
    driver.open_for(3000)
    driver.close()
    assert pty_rig.pin("RELAY_PIN") == 0
    assert driver.errors == 0


def test_the_failsafe_closes_the_gate_when_the_driver_stops_beating(pty_rig: PtyRig) -> None:
    driver = pty_rig.driver
    failsafe_ms = pty_rig.code.settings.FAILSAFE_MS
    driver.heartbeat()
    driver.show(Decision.PASS)
    driver.open_for(30_000)
    pty_rig.advance(failsafe_ms - 1)
    assert pty_rig.pin("RELAY_PIN") == 1
    pty_rig.advance(1)
    assert pty_rig.pin("RELAY_PIN") == 0
    assert pty_rig.pin("RED_PIN") == 1
    assert pty_rig.pin("GREEN_PIN") == 0
    assert driver.status().startswith("light=red:blink gate=closed failsafe=1")
    with pytest.raises(SignalError, match="refused G: failsafe"):
        driver.open_for(3000)
    assert pty_rig.pin("RELAY_PIN") == 0
    driver.heartbeat()
    driver.open_for(3000)
    assert pty_rig.pin("RELAY_PIN") == 1


def test_garbage_from_the_terminal_side_is_answered_and_the_board_goes_on(pty_rig: PtyRig) -> None:
    port = pty_rig.driver.port
    port.write(b"\x00\xffgarbage\n" + b"z" * 300 + b"\n")
    assert isinstance(port, serial.Serial)
    assert port.readline() == b"0 err not ASCII\n"
    assert port.readline() == b"0 err line longer than 64 bytes\n"
    assert pty_rig.driver.status().startswith("light=off:steady gate=closed")
    assert pty_rig.board.errors == 2
