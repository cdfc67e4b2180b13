"""The board's firmware type-checks against the RP2040's MicroPython stubs, and the check does catch errors."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from hardware.board_typecheck import BOARD_DIR, check


def test_board_code_passes_the_stub_type_check(tmp_path: Path) -> None:
    result = check(BOARD_DIR, tmp_path)
    assert result.ok, result.output
    assert "Success" in result.output


def test_the_check_fails_on_a_type_error_against_the_stubs(tmp_path: Path) -> None:
    board = tmp_path / "board"
    shutil.copytree(BOARD_DIR, board)
    buzzer = board / "buzzer.py"
    buzzer.write_text(buzzer.read_text().replace("self.pwm.freq(hz)", 'self.pwm.freq("2.7 kHz")'))
    main = board / "main.py"
    main.write_text(
        main.read_text().replace("time.ticks_diff(ticks, last)", "time.ticks_diff(ticks, last) + time.now()")
    )
    result = check(board, tmp_path / "work")
    assert not result.ok
    assert re.search(r'^buzzer\.py:\d+: error: No overload variant of "freq" of "PWM"', result.output, re.M)
    assert re.search(r'^main\.py:\d+: error: Module has no attribute "now"', result.output, re.M)
