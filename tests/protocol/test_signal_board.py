"""The signal board line protocol: every command round-trips, anything else is a LineError."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol import signal_board as sb
from protocol.signal_board import Beep, Light, LightMode, LineError, Reply, Verb


def test_lines_are_what_the_board_firmware_expects() -> None:
    assert sb.encode(sb.light(7, Light.RED, LightMode.BLINK)) == b"7 L red blink\n"
    assert sb.encode(sb.beep(8, Beep.DENY)) == b"8 B deny\n"
    assert sb.encode(sb.gate(9, 3000)) == b"9 G 3000\n"
    assert sb.encode(sb.simple(10, Verb.HEARTBEAT)) == b"10 H\n"
    assert sb.encode_reply(Reply(7, ok=True)) == b"7 ok\n"
    assert sb.encode_reply(Reply(0, ok=False, text="bad_command")) == b"0 err bad_command\n"


@given(
    st.integers(0, sb.MAX_ID),
    st.sampled_from(
        [("L", "green", "steady"), ("L", "off", "blink"), ("B", "alarm"), ("G", "0"), ("G", "30000"), ("H",), ("S",)]
    ),
)
def test_round_trip(command_id: int, words: tuple[str, ...]) -> None:
    line = (" ".join((str(command_id), *words)) + "\n").encode()
    assert sb.encode(sb.parse_command(line)) == line


@pytest.mark.parametrize(
    "line",
    [b"", b"L red steady\n", b"1 X\n", b"1 L purple steady\n", b"1 L red\n", b"1 G 30001\n", b"1 G -5\n",
     b"1 G abc\n", b"1 H extra\n", b"70000 H\n", b"1 B\n", b"\xff\xfe\n", b"1 " + b"H" * 80 + b"\n"],
)  # fmt: skip
def test_malformed_commands_are_refused(line: bytes) -> None:
    with pytest.raises(LineError):
        sb.parse_command(line)


@pytest.mark.parametrize("line", [b"", b"ok\n", b"1 maybe\n", b"x ok\n", b"\x00\n", b"1 ok " + b"x" * 70])
def test_malformed_replies_are_refused(line: bytes) -> None:
    with pytest.raises(LineError):
        sb.parse_reply(line)


def test_builders_refuse_out_of_range_values() -> None:
    with pytest.raises(LineError):
        sb.gate(1, sb.MAX_GATE_MS + 1)
    with pytest.raises(LineError):
        sb.light(sb.MAX_ID + 1, Light.RED)
    with pytest.raises(LineError):
        sb.simple(1, Verb.GATE)


@given(st.binary(max_size=100))
def test_parsers_raise_only_line_errors(data: bytes) -> None:
    for parse in (sb.parse_command, sb.parse_reply):
        with contextlib.suppress(LineError):
            parse(data)
