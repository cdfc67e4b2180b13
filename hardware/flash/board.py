"""The RP2040 signal board on USB: find it, copy its firmware with mpremote, and ask it its version.

Detection looks for the USB id of MicroPython on an RP2040 (``2e8a:0005``) among the serial ports; no board is not
an error (the step is skipped with a message). The files copied are exactly ``hardware/board/manifest.py``'s
``FILES``; the check afterwards sends ``V`` over the line protocol (``protocol/signal_board``) and wants
``gridpass-board <the manifest's version>``. Ports, the copier and the serial line come in through small interfaces
so that the logic runs in tests without a board.
"""

from __future__ import annotations

import ast
import logging
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from hardware.flash.errors import BoardError
from protocol import signal_board as line
from protocol.signal_board import LineError

log = logging.getLogger(__name__)

RP2040_VID = 0x2E8A
MICROPYTHON_PID = 0x0005
BOARD_DIR = Path(__file__).resolve().parents[1] / "board"
COPY_TIMEOUT_S = 120.0
"""How long mpremote may take to copy every file and reset the board."""
BOOT_WAIT_S = 3.0
"""How long the board gets after its reset before it is asked its version."""
REPLY_TIMEOUT_S = 1.0
VERSION_ATTEMPTS = 3
VERSION_COMMAND_ID = 1


@dataclass(frozen=True, slots=True)
class BoardFirmware:
    """What to copy: name, version and files (from the board's manifest)."""

    name: str
    version: str
    directory: Path
    files: tuple[str, ...]


def read_manifest(directory: Path = BOARD_DIR) -> BoardFirmware:
    """The board's ``manifest.py``, read as data (it is MicroPython source: never imported on the host)."""
    try:
        tree = ast.parse((directory / "manifest.py").read_text())
    except (OSError, SyntaxError) as exc:
        raise BoardError(f"the board firmware's manifest in {directory} cannot be read ({exc})") from exc
    values: dict[str, object] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                values[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                continue
    name, version, files = values.get("NAME"), values.get("VERSION"), values.get("FILES")
    if not isinstance(name, str) or not isinstance(version, str) or not isinstance(files, tuple):
        raise BoardError(f"{directory}/manifest.py lacks NAME, VERSION or FILES")
    if not all(isinstance(f, str) and "/" not in f and (directory / f).is_file() for f in files):
        raise BoardError(f"{directory}/manifest.py lists a file that is not in {directory}")
    return BoardFirmware(name, version, directory, tuple(str(f) for f in files))


class PortInfo(Protocol):
    """What pyserial's ``ListPortInfo`` gives."""

    device: str
    vid: int | None
    pid: int | None


def find_board(list_ports: Callable[[], Sequence[PortInfo]] | None = None) -> str | None:
    """The serial device of an attached RP2040 running MicroPython, or None."""
    if list_ports is None:
        from serial.tools import list_ports as serial_list_ports  # noqa: PLC0415 - only when looking for a board

        list_ports = serial_list_ports.comports
    found = [port.device for port in list_ports() if (port.vid, port.pid) == (RP2040_VID, MICROPYTHON_PID)]
    if len(found) > 1:
        raise BoardError(f"{len(found)} signal boards are attached ({', '.join(found)}): attach only this card's board")
    return found[0] if found else None


def copy_commands(port: str, firmware: BoardFirmware) -> list[str]:
    """The mpremote arguments that copy the firmware and reset the board (one mpremote session, chained)."""
    arguments = ["connect", port]
    for name in firmware.files:
        arguments += ["fs", "cp", str(firmware.directory / name), f":{name}", "+"]
    return [*arguments, "reset"]


Copier = Callable[[list[str]], None]
"""Runs mpremote with arguments; BoardError on failure."""


def mpremote(arguments: list[str]) -> None:
    """Run ``python -m mpremote`` (the one in this environment) with ``arguments``."""
    try:
        result = subprocess.run(  # noqa: S603 - our own interpreter and argument list
            [sys.executable, "-m", "mpremote", *arguments], capture_output=True, text=True, timeout=COPY_TIMEOUT_S,
            check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired as exc:
        raise BoardError("copying to the signal board took too long: re-plug it and run again") from exc
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
        raise BoardError(f"mpremote could not copy the firmware ({tail[0]}): re-plug the board and run again")


class Line(Protocol):
    """A serial line to the board (pyserial's ``Serial`` opened with a read timeout)."""

    def write(self, data: bytes, /) -> int | None:
        """Write bytes."""

    def readline(self) -> bytes:
        """One line, or what arrived before the timeout."""

    def reset_input_buffer(self) -> None:
        """Drop unread input (boot messages)."""


def ask_version(port: Line, attempts: int = VERSION_ATTEMPTS) -> str:
    """The board's answer to ``V``; BoardError when it says nothing or garbage."""
    last = "nothing"
    for _ in range(attempts):
        port.reset_input_buffer()
        port.write(line.encode(line.simple(VERSION_COMMAND_ID, line.Verb.VERSION)))
        raw = port.readline()
        if not raw.endswith(b"\n"):
            if raw:
                last = "an unfinished line"
            continue
        try:
            reply = line.parse_reply(raw)
        except LineError as exc:
            raise BoardError(f"the signal board answered garbage ({exc}): re-flash it, or check the cable") from exc
        if reply.id != VERSION_COMMAND_ID or not reply.ok:
            raise BoardError(f"the signal board answered {reply.text or 'an error'!r} to its version: re-flash it")
        return reply.text
    raise BoardError(f"the signal board answered {last} to its version: re-plug it and run again")


def verify(port: Line, firmware: BoardFirmware) -> str:
    """Check that the board runs the firmware just copied."""
    version = ask_version(port)
    expected = f"{firmware.name} {firmware.version}"
    if version != expected:
        raise BoardError(f"the signal board says {version!r}, expected {expected!r}: the copy did not take; run again")
    return version


def open_line(device: str) -> Line:
    """The real serial line to the board."""
    import serial  # noqa: PLC0415

    try:
        return serial.Serial(device, 115200, timeout=REPLY_TIMEOUT_S)
    except serial.SerialException as exc:
        raise BoardError(f"cannot open the signal board on {device}: {exc}") from exc


def flash_board(
    device: str, firmware: BoardFirmware, *, copier: Copier = mpremote, opener: Callable[[str], Line] = open_line,
    sleep: Callable[[float], None] = time.sleep,
) -> str:  # fmt: skip
    """Copy the firmware to the board on ``device``, reset it, and verify its version; returns it.

    A board that already answers with this firmware's version (a rerun) is left as it is.
    """
    port = opener(device)
    try:
        return verify(port, firmware)
    except BoardError as exc:
        log.info("flashing the board on %s: %s", device, exc)
    finally:
        _close(port)
    copier(copy_commands(device, firmware))
    sleep(BOOT_WAIT_S)
    port = opener(device)
    try:
        return verify(port, firmware)
    finally:
        _close(port)


def _close(port: Line) -> None:
    close = getattr(port, "close", None)
    if callable(close):
        close()
