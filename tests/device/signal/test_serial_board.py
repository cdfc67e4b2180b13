"""The signal board driver against a board simulated on the far side of a real pseudo-terminal pair."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator

import pytest
import serial

from device.signal.base import SignalError
from device.signal.serial_board import SerialBoard
from protocol import signal_board as sb
from protocol.reasons import Decision


class SimulatedBoard:
    """Answers the line protocol on the master side of a pty; can be told to misbehave."""

    def __init__(self, master_fd: int) -> None:
        self.fd = master_fd
        self.received: list[sb.Command] = []
        self.mode = "ok"
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, name="simulated-board")
        self.thread.start()

    def _serve(self) -> None:
        buffer = b""
        while not self.stop.is_set():
            import select

            ready, _, _ = select.select([self.fd], [], [], 0.05)
            if not ready:
                continue
            buffer += os.read(self.fd, 256)
            while b"\n" in buffer:
                raw, buffer = buffer.split(b"\n", 1)
                command = sb.parse_command(raw + b"\n")
                self.received.append(command)
                if self.mode == "silent":
                    continue
                if self.mode == "garbage":
                    os.write(self.fd, b"\xff\xfe garbage\n")
                elif self.mode == "refuse":
                    os.write(self.fd, sb.encode_reply(sb.Reply(command.id, ok=False, text="busy")))
                else:
                    text = "gridpass-board 1.0.0" if command.verb is sb.Verb.VERSION else ""
                    os.write(self.fd, sb.encode_reply(sb.Reply(command.id, ok=True, text=text)))

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)


@pytest.fixture
def board() -> Iterator[tuple[SerialBoard, SimulatedBoard]]:
    master, slave = os.openpty()
    port = serial.Serial(os.ttyname(slave), 115200, timeout=0.3)
    simulated = SimulatedBoard(master)
    yield SerialBoard(port), simulated
    simulated.close()
    port.close()
    os.close(master)
    os.close(slave)


def test_decisions_gate_heartbeat_and_version(board: tuple[SerialBoard, SimulatedBoard]) -> None:
    driver, simulated = board
    driver.show(Decision.INVALID)
    driver.open_for(3000)
    driver.heartbeat()
    assert driver.version() == "gridpass-board 1.0.0"
    verbs = [(c.verb, c.args) for c in simulated.received]
    assert verbs[:4] == [
        (sb.Verb.LIGHT, ("red", "blink")),
        (sb.Verb.BEEP, ("alarm",)),
        (sb.Verb.GATE, ("3000",)),
        (sb.Verb.HEARTBEAT, ()),
    ]


@pytest.mark.parametrize(
    ("mode", "message"), [("silent", "did not answer"), ("garbage", "garbage"), ("refuse", "refused")]
)
def test_a_misbehaving_board_raises_signal_error_quickly(
    board: tuple[SerialBoard, SimulatedBoard], mode: str, message: str
) -> None:
    driver, simulated = board
    simulated.mode = mode
    with pytest.raises(SignalError, match=message):
        driver.show(Decision.PASS)
    assert driver.errors == 1
