"""The line protocol between a terminal and its RP2040 signal board (traffic light, buzzer, gate relay) over USB serial.

ASCII lines, ``\\n``-terminated, at most 64 bytes. Every host line carries an id (0-65535) that the board echoes::

    host -> board                                   board -> host
    <id> L <off|green|yellow|red> <steady|blink>    <id> ok
    <id> B <off|ok|check|deny|alarm>                <id> ok
    <id> G <ms>   gate open for ms (0..30000; 0 = close now)     <id> ok
    <id> H        heartbeat: restarts the board's fail-safe timer  <id> ok
    <id> S        status     <id> ok light=red:blink gate=closed failsafe=0 up=12345
    <id> V        version    <id> ok gridpass-board 1.0.0
    anything wrong           <id> err <reason>   (id 0 when the id itself is unreadable)

Words are separated by ASCII whitespace (space, tab, CR, LF, VT, FF); any other byte is part of a word.

Fail-safe (board side): when no heartbeat arrives for the configured time, the board closes the gate and blinks
red until the next heartbeat. While it holds, ``L`` and ``G`` with a time above 0 are refused
(``<id> err failsafe: heartbeat first``); ``G 0``, ``B``, ``S`` and ``V`` are answered; ``H`` ends it and turns
the light off. The board firmware implements the same grammar (``hardware/board``); this module is
the terminal's side, and the grammar's single definition.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

MAX_LINE_BYTES = 64
MAX_GATE_MS = 30_000
MAX_ID = 65_535


class Light(StrEnum):
    """Which lamp of the traffic light is lit."""

    OFF = "off"
    GREEN = "green"
    YELLOW = "yellow"
    RED = "red"


class LightMode(StrEnum):
    """How it is lit."""

    STEADY = "steady"
    BLINK = "blink"


class Beep(StrEnum):
    """Buzzer patterns; the board owns their timing."""

    OFF = "off"
    OK = "ok"
    CHECK = "check"
    DENY = "deny"
    ALARM = "alarm"


class Verb(StrEnum):
    """Host commands."""

    LIGHT = "L"
    BEEP = "B"
    GATE = "G"
    HEARTBEAT = "H"
    STATUS = "S"
    VERSION = "V"


class LineError(ValueError):
    """A line that is not part of the protocol."""


@dataclass(frozen=True, slots=True)
class Command:
    """One host-to-board command."""

    id: int
    verb: Verb
    args: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Reply:
    """One board-to-host reply."""

    id: int
    ok: bool
    text: str = ""


def _check_id(command_id: int) -> int:
    if not 0 <= command_id <= MAX_ID:
        raise LineError(f"id {command_id} out of 0..{MAX_ID}")
    return command_id


def light(command_id: int, lamp: Light, mode: LightMode = LightMode.STEADY) -> Command:
    """Set the traffic light."""
    return Command(_check_id(command_id), Verb.LIGHT, (Light(lamp).value, LightMode(mode).value))


def beep(command_id: int, pattern: Beep) -> Command:
    """Sound a buzzer pattern."""
    return Command(_check_id(command_id), Verb.BEEP, (Beep(pattern).value,))


def gate(command_id: int, open_ms: int) -> Command:
    """Open the gate for ``open_ms`` milliseconds (0 closes it now)."""
    if not 0 <= open_ms <= MAX_GATE_MS:
        raise LineError(f"gate time {open_ms} ms out of 0..{MAX_GATE_MS}")
    return Command(_check_id(command_id), Verb.GATE, (str(open_ms),))


def simple(command_id: int, verb: Verb) -> Command:
    """Heartbeat, status or version."""
    if verb not in (Verb.HEARTBEAT, Verb.STATUS, Verb.VERSION):
        raise LineError(f"{verb} takes arguments")
    return Command(_check_id(command_id), verb)


def encode(command: Command) -> bytes:
    """The line for a command."""
    line = " ".join((str(command.id), command.verb.value, *command.args)) + "\n"
    return line.encode("ascii")


def parse_command(line: bytes) -> Command:
    """Parse and validate a host line (the board's side of the grammar, and the tests')."""
    words = _words(line)
    if len(words) < 2:
        raise LineError("expected '<id> <verb> [args]'")
    command_id = _parse_id(words[0])
    try:
        verb = Verb(words[1])
    except ValueError as exc:
        raise LineError(f"unknown verb {words[1]!r}") from exc
    args = tuple(words[2:])
    try:
        match verb, args:
            case Verb.LIGHT, (lamp, mode):
                return light(command_id, Light(lamp), LightMode(mode))
            case Verb.BEEP, (pattern,):
                return beep(command_id, Beep(pattern))
            case Verb.GATE, (ms,) if ms.isdigit():
                return gate(command_id, int(ms))
            case ((Verb.HEARTBEAT | Verb.STATUS | Verb.VERSION), ()):
                return simple(command_id, verb)
    except ValueError as exc:
        raise LineError(f"bad arguments for {verb.value}: {exc}") from exc
    raise LineError(f"bad arguments for {verb.value}")


def encode_reply(reply: Reply) -> bytes:
    """The line for a reply."""
    text = f"{reply.id} {'ok' if reply.ok else 'err'}" + (f" {reply.text}" if reply.text else "")
    return text.encode("ascii", "replace")[: MAX_LINE_BYTES - 1] + b"\n"


def parse_reply(line: bytes) -> Reply:
    """Parse a board line."""
    words = _words(line)
    if len(words) < 2 or words[1] not in ("ok", "err"):
        raise LineError("expected '<id> ok|err [text]'")
    return Reply(_parse_id(words[0]), words[1] == "ok", " ".join(words[2:]))


def _words(line: bytes) -> list[str]:
    """Words split on ASCII whitespace (space, tab, CR, LF, VT, FF) only: the board splits bytes the same way."""
    if len(line) > MAX_LINE_BYTES:
        raise LineError(f"line longer than {MAX_LINE_BYTES} bytes")
    try:
        line.decode("ascii")
    except UnicodeDecodeError as exc:
        raise LineError("not ASCII") from exc
    return [word.decode("ascii") for word in line.split()]


def _parse_id(word: str) -> int:
    if not word.isdigit() or len(word) > 5:
        raise LineError(f"bad id {word!r}")
    return _check_id(int(word))
