"""Fixtures: the board's modules imported on the host with a fake ``machine``, and a board wired to a fake UART."""

from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.hardware.board import fake_machine

BOARD_DIR = Path(__file__).resolve().parents[3] / "hardware" / "board"
BOARD_MODULES = sorted(path.stem for path in BOARD_DIR.glob("*.py"))
"""Top-level names on the board; imported by name as the board does, from its own directory."""


@dataclass
class BoardCode:
    """The board's modules, by name."""

    modules: dict[str, types.ModuleType]
    machine: types.ModuleType

    def __getattr__(self, name: str) -> Any:  # noqa: ANN401 - the modules are untyped on the host
        try:
            return self.modules[name]
        except KeyError as exc:
            raise AttributeError(name) from exc


@pytest.fixture(scope="module")
def code() -> Iterator[BoardCode]:
    """The board's modules, imported afresh per test module with a fake ``machine``; sys.path and sys.modules are
    restored after. The modules hold no state of their own (every board is built anew), so tests may share them."""
    saved = {name: sys.modules.pop(name) for name in BOARD_MODULES if name in sys.modules}
    sys.path.insert(0, str(BOARD_DIR))
    try:
        with fake_machine.installed() as machine:
            modules = {name: importlib.import_module(name) for name in BOARD_MODULES}
            yield BoardCode(modules, machine)
    finally:
        sys.path.remove(str(BOARD_DIR))
        for name in BOARD_MODULES:
            sys.modules.pop(name, None)
        sys.modules.update(saved)


@dataclass
class Rig:
    """A board built by main.build on fake pins, talking over a fake UART."""

    code: BoardCode
    board: Any
    uart: fake_machine.UART
    now_ms: int = 0

    def pin(self, setting: str) -> fake_machine.Pin:
        """The fake pin wired for a settings name, e.g. 'RELAY_PIN'."""
        return fake_machine.Pin.created[getattr(self.code.settings, setting)]

    def lit(self) -> set[str]:
        """Lamps lit now (active-high wiring)."""
        return {name for name in ("red", "yellow", "green") if self.pin(name.upper() + "_PIN").level}

    def send(self, line: bytes, advance_ms: int = 0) -> list[bytes]:
        """Feed a line, step once, and return the replies."""
        self.uart.incoming += line
        self.step(advance_ms)
        return self.uart.replies()

    def step(self, advance_ms: int = 0) -> None:
        """Let time pass and step the board."""
        self.now_ms += advance_ms
        self.board.step(self.now_ms)


@pytest.fixture
def rig(code: BoardCode) -> Rig:
    """A whole board on a UART link, at time 0."""
    uart = fake_machine.UART(0, 115200)
    link = code.link.UartLink(uart, code.wire.MAX_LINE_BYTES)
    return Rig(code, code.main.build(link, 0), uart)
