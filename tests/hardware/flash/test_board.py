"""The signal board step: detection, the files copied (the board's own manifest), and its answer checked."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from hardware.flash.board import (
    BOARD_DIR,
    BoardFirmware,
    ask_version,
    copy_commands,
    find_board,
    flash_board,
    read_manifest,
)
from hardware.flash.errors import BoardError


@dataclass
class Port:
    """A USB serial port as pyserial lists it."""

    device: str
    vid: int | None
    pid: int | None


@dataclass
class ScriptedLine:
    """A serial line whose board answers each write with the next scripted reply (b"" : silence)."""

    replies: list[bytes]
    written: list[bytes] = field(default_factory=list)
    closed: bool = False

    def write(self, data: bytes, /) -> int:
        self.written.append(data)
        return len(data)

    def readline(self) -> bytes:
        return self.replies.pop(0) if self.replies else b""

    def reset_input_buffer(self) -> None:
        return None

    def close(self) -> None:
        self.closed = True


def test_the_manifest_of_the_board_firmware_is_read_as_data() -> None:
    firmware = read_manifest()
    assert firmware.name == "gridpass-board"
    assert "main.py" in firmware.files
    assert all((BOARD_DIR / name).is_file() for name in firmware.files)


def test_a_manifest_listing_a_missing_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "manifest.py").write_text('NAME = "b"\nVERSION = "1"\nFILES = ("main.py",)\n')
    with pytest.raises(BoardError, match="lists a file"):
        read_manifest(tmp_path)


def test_only_an_rp2040_running_micropython_is_taken() -> None:
    ports = [Port("/dev/ttyUSB0", 0x10C4, 0xEA60), Port("/dev/ttyACM0", 0x2E8A, 0x0005), Port("/dev/ttyS0", None, None)]
    assert find_board(lambda: ports) == "/dev/ttyACM0"
    assert find_board(lambda: ports[:1]) is None
    with pytest.raises(BoardError, match="2 signal boards"):
        find_board(lambda: [*ports, Port("/dev/ttyACM1", 0x2E8A, 0x0005)])


def test_every_manifest_file_is_copied_in_one_mpremote_session_then_the_board_resets() -> None:
    firmware = read_manifest()
    arguments = copy_commands("/dev/ttyACM0", firmware)
    assert arguments[:2] == ["connect", "/dev/ttyACM0"]
    assert arguments[-1] == "reset"
    copied = [arguments[i + 2] for i, word in enumerate(arguments) if word == "cp"]
    assert copied == [f":{name}" for name in firmware.files]


def test_a_board_that_answers_its_version_is_flashed() -> None:
    firmware = BoardFirmware("gridpass-board", "1.0.0", BOARD_DIR, ("main.py",))
    line = ScriptedLine([b"", b"", b"", b"1 ok gridpass-board 1.0.0\n"])  # blank board first, then flashed
    copies: list[list[str]] = []
    version = flash_board(
        "/dev/ttyACM0", firmware, copier=copies.append, opener=lambda _device: line, sleep=lambda _s: None
    )
    assert version == "gridpass-board 1.0.0"
    assert line.written == [b"1 V\n"] * 4
    assert line.closed
    assert len(copies) == 1


@pytest.mark.parametrize(
    ("replies", "message"),
    [
        ([b"", b"", b""], "answered nothing"),
        ([b"1 ok gridp", b"", b""], "unfinished line"),
        ([b"\x00\xffgarbage\n"], "garbage"),
        ([b"1 err unknown verb\n"], "re-flash"),
        ([b"1 ok gridpass-board 0.9.0\n"], "expected 'gridpass-board 1.0.0'"),
    ],
)
def test_a_board_that_answers_garbage_or_nothing_is_a_clear_error(replies: list[bytes], message: str) -> None:
    firmware = BoardFirmware("gridpass-board", "1.0.0", BOARD_DIR, ("main.py",))
    line = ScriptedLine([b"", b"", b"", *replies])  # the first look finds a blank board
    with pytest.raises(BoardError, match=message):
        flash_board("/dev/ttyACM0", firmware, copier=lambda _a: None, opener=lambda _d: line, sleep=lambda _s: None)
    assert line.closed


def test_a_board_already_running_this_firmware_is_left_alone() -> None:
    firmware = BoardFirmware("gridpass-board", "1.0.0", BOARD_DIR, ("main.py",))
    copies: list[list[str]] = []
    line = ScriptedLine([b"1 ok gridpass-board 1.0.0\n"])
    assert flash_board("/dev/ttyACM0", firmware, copier=copies.append, opener=lambda _d: line) == "gridpass-board 1.0.0"
    assert copies == []


def test_ask_version_retries_silence_before_giving_up() -> None:
    assert ask_version(ScriptedLine([b"", b"1 ok gridpass-board 2.0.0\n"])) == "gridpass-board 2.0.0"
