"""The whole board on fake pins: every command, garbage, overlong lines, the fail-safe and its recovery."""

from __future__ import annotations

import pytest

from protocol import signal_board as sb
from tests.hardware.board.conftest import Rig


def test_power_up_is_safe(rig: Rig) -> None:
    assert rig.lit() == set()
    assert rig.pin("RELAY_PIN").level == 0
    assert rig.code.machine.PWM.created[rig.code.settings.BUZZER_PIN].duty == 0
    assert rig.code.machine.PWM.created[rig.code.settings.BUZZER_PIN].hz == rig.code.settings.BUZZER_HZ


@pytest.mark.parametrize("lamp", ["green", "yellow", "red"])
def test_light_steady(rig: Rig, lamp: str) -> None:
    assert rig.send(f"1 L {lamp} steady\n".encode()) == [b"1 ok\n"]
    assert rig.lit() == {lamp}
    rig.step(rig.code.settings.FAILSAFE_MS - 1)
    assert rig.lit() == {lamp}


def test_light_blinks_and_goes_off(rig: Rig) -> None:
    half = rig.code.settings.BLINK_HALF_MS
    assert rig.send(b"2 L yellow blink\n") == [b"2 ok\n"]
    seen = []
    for _ in range(4):
        seen.append(rig.lit())
        rig.step(half)
    assert seen == [{"yellow"}, set(), {"yellow"}, set()]
    assert rig.send(b"3 L off steady\n") == [b"3 ok\n"]
    assert rig.lit() == set()


def test_beep_patterns_sound_then_stop(rig: Rig) -> None:
    pwm = rig.code.machine.PWM.created[rig.code.settings.BUZZER_PIN]
    for pattern, steps in rig.code.buzzer.PATTERNS.items():
        assert rig.send(f"4 B {pattern}\n".encode()) == [b"4 ok\n"]
        assert (pwm.duty > 0) == bool(steps)
        rig.step(sum(steps))
        assert pwm.duty == 0
    rig.send(b"5 B deny\n")
    assert pwm.duty > 0
    assert rig.send(b"6 B off\n") == [b"6 ok\n"]
    assert pwm.duty == 0


def test_gate_opens_for_its_time_and_closes_itself(rig: Rig) -> None:
    relay = rig.pin("RELAY_PIN")
    assert rig.send(b"7 G 3000\n") == [b"7 ok\n"]
    assert relay.level == 1
    rig.step(2999)
    assert relay.level == 1
    rig.step(1)
    assert relay.level == 0


def test_gate_zero_closes_now_and_a_new_open_restarts_the_time(rig: Rig) -> None:
    relay = rig.pin("RELAY_PIN")
    rig.send(b"8 G 1000\n")
    rig.send(b"9 G 1000\n", advance_ms=900)
    rig.step(900)
    assert relay.level == 1
    assert rig.send(b"10 G 0\n") == [b"10 ok\n"]
    assert relay.level == 0


def test_status_and_version(rig: Rig) -> None:
    rig.send(b"11 L red blink\n")
    rig.send(b"12 G 5000\n")
    (status,) = rig.send(b"13 S\n", advance_ms=2500)
    assert status == b"13 ok light=red:blink gate=open failsafe=0 up=2\n"
    (version,) = rig.send(b"14 V\n")
    reply = sb.parse_reply(version)
    assert reply.ok
    assert reply.text == f"{rig.code.manifest.NAME} {rig.code.manifest.VERSION}"


@pytest.mark.parametrize(
    ("line", "reply"),
    [
        (b"hello\n", b"0 err bad id\n"),
        (b"\n", b"0 err expected '<id> <verb> [args]'\n"),
        (b"15\n", b"15 err expected '<id> <verb> [args]'\n"),
        (b"16 X\n", b"16 err unknown verb\n"),
        (b"17 L purple steady\n", b"17 err bad arguments for L\n"),
        (b"18 G 30001\n", b"18 err bad arguments for G\n"),
        (b"19 H now\n", b"19 err bad arguments for H\n"),
        (b"70000 H\n", b"0 err bad id\n"),
        (b"\xff\xfe\n", b"0 err not ASCII\n"),
        (b"1 " + b"x" * 100 + b"\n", b"0 err line longer than 64 bytes\n"),
    ],
)
def test_garbage_is_answered_with_an_error_line(rig: Rig, line: bytes, reply: bytes) -> None:
    assert rig.send(line) == [reply]
    assert rig.board.errors == 1
    assert rig.send(b"20 V\n")[0].startswith(b"20 ok")


def test_several_lines_in_one_read_are_answered_in_order(rig: Rig) -> None:
    assert rig.send(b"1 H\n2 L green steady\n3 G 100\n") == [b"1 ok\n", b"2 ok\n", b"3 ok\n"]


def test_failsafe_closes_the_gate_and_blinks_red_when_the_heartbeat_stops(rig: Rig) -> None:
    timeout = rig.code.settings.FAILSAFE_MS
    relay = rig.pin("RELAY_PIN")
    rig.send(b"1 H\n")
    rig.send(b"2 L green steady\n")
    rig.send(b"3 G 30000\n")
    rig.step(timeout - 1)
    assert relay.level == 1
    assert not rig.board.failsafe.tripped
    rig.step(1)
    assert relay.level == 0
    assert rig.lit() == {"red"}
    rig.step(rig.code.settings.BLINK_HALF_MS)
    assert rig.lit() == set()
    (status,) = rig.send(b"4 S\n")
    assert b"light=red:blink gate=closed failsafe=1" in status


def test_while_tripped_the_gate_and_light_are_refused_and_a_heartbeat_recovers(rig: Rig) -> None:
    rig.step(rig.code.settings.FAILSAFE_MS)
    assert rig.board.failsafe.tripped
    assert rig.send(b"5 G 3000\n") == [b"5 err failsafe: heartbeat first\n"]
    assert rig.send(b"6 L green steady\n") == [b"6 err failsafe: heartbeat first\n"]
    assert rig.pin("RELAY_PIN").level == 0
    assert rig.send(b"7 G 0\n") == [b"7 ok\n"]
    assert rig.send(b"8 B alarm\n") == [b"8 ok\n"]
    assert rig.send(b"9 H\n") == [b"9 ok\n"]
    assert rig.lit() == set()
    assert rig.send(b"10 G 3000\n") == [b"10 ok\n"]
    assert rig.pin("RELAY_PIN").level == 1
    assert rig.board.failsafe.trips == 1


def test_heartbeats_keep_the_failsafe_away(rig: Rig) -> None:
    timeout = rig.code.settings.FAILSAFE_MS
    for beat in range(20):
        assert rig.send(f"{beat} H\n".encode(), advance_ms=timeout - 1) == [f"{beat} ok\n".encode()]
    assert not rig.board.failsafe.tripped
    assert rig.board.failsafe.trips == 0
