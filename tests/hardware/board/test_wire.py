"""The board's parser accepts exactly what protocol/signal_board.py accepts, and its replies parse on the host."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol import signal_board as sb
from tests.hardware.board.conftest import BoardCode

WORDS = ["0", "1", "65535", "65536", "007", "L", "B", "G", "H", "S", "V", "red", "green", "yellow", "off", "blink",
         "steady", "ok", "check", "deny", "alarm", "30000", "30001", "x", "\x1c", "1\x1f"]  # fmt: skip
SEPARATORS = [" ", "  ", "\t", "\x0b", "\x0c", "\r", "\x1c"]


def host_verdict(line: bytes) -> tuple[int, str, tuple[str, ...]] | None:
    try:
        command = sb.parse_command(line)
    except sb.LineError:
        return None
    return command.id, command.verb.value, command.args


def board_verdict(code: BoardCode, line: bytes) -> tuple[int, str, tuple[str, ...]] | None:
    try:
        parsed: tuple[int, str, tuple[str, ...]] = code.wire.parse(line)
    except code.wire.WireError:
        return None
    return parsed


@st.composite
def lines(draw: st.DrawFn) -> bytes:
    words = draw(st.lists(st.sampled_from(WORDS), max_size=5))
    text = "".join(word + draw(st.sampled_from(SEPARATORS)) for word in words)
    return (text + draw(st.sampled_from(["\n", "\r\n", ""]))).encode()


@given(line=st.one_of(lines(), st.binary(max_size=80)))
def test_board_and_host_agree_on_every_line(code: BoardCode, line: bytes) -> None:
    assert board_verdict(code, line) == host_verdict(line)


@given(
    command=st.one_of(
        st.builds(sb.light, st.integers(0, sb.MAX_ID), st.sampled_from(sb.Light), st.sampled_from(sb.LightMode)),
        st.builds(sb.beep, st.integers(0, sb.MAX_ID), st.sampled_from(sb.Beep)),
        st.builds(sb.gate, st.integers(0, sb.MAX_ID), st.integers(0, sb.MAX_GATE_MS)),
        st.builds(sb.simple, st.integers(0, sb.MAX_ID), st.sampled_from([sb.Verb.HEARTBEAT, sb.Verb.STATUS])),
    )
)
def test_every_host_command_parses_on_the_board(code: BoardCode, command: sb.Command) -> None:
    assert code.wire.parse(sb.encode(command)) == (command.id, command.verb.value, command.args)


def test_the_board_shares_the_hosts_constants(code: BoardCode) -> None:
    assert code.wire.MAX_LINE_BYTES == sb.MAX_LINE_BYTES
    assert code.wire.MAX_ID == sb.MAX_ID
    assert code.wire.MAX_GATE_MS == sb.MAX_GATE_MS
    assert set(code.wire.VERBS) == {verb.value for verb in sb.Verb}
    assert set(code.wire.LAMPS) == {lamp.value for lamp in sb.Light} == set(code.light.LAMPS)
    assert set(code.wire.MODES) == {mode.value for mode in sb.LightMode} == set(code.light.MODES)
    assert set(code.wire.PATTERNS) == {beep.value for beep in sb.Beep} == set(code.buzzer.PATTERNS)


@given(command_id=st.integers(0, sb.MAX_ID), ok=st.booleans(), text=st.text(st.characters(max_codepoint=126)))
def test_replies_parse_on_the_host_and_fit_a_line(code: BoardCode, command_id: int, ok: bool, text: str) -> None:
    line = code.wire.ok(command_id, text.strip()) if ok else code.wire.err(command_id, text.strip() or "x")
    assert len(line) <= sb.MAX_LINE_BYTES
    reply = sb.parse_reply(line)
    assert (reply.id, reply.ok) == (command_id, ok)


@pytest.mark.parametrize(("line", "command_id"), [(b"12 Q\n", 12), (b"x Q\n", 0), (b"99999 H\n", 0)])
def test_errors_carry_the_id_when_it_is_readable(code: BoardCode, line: bytes, command_id: int) -> None:
    with pytest.raises(code.wire.WireError) as caught:
        code.wire.parse(line)
    assert caught.value.command_id == command_id
