"""The board's side of the line protocol (the grammar is defined once, in gridpass's protocol/signal_board.py).

A host line is ``<id> <verb> [args]``; ids are 0..65535 and echoed in the reply ``<id> ok [text]`` or
``<id> err <reason>`` (id 0 when the id itself is unreadable). Words are split on ASCII whitespace.
"""

MAX_LINE_BYTES = 64
"""Longest line, newline included, either way."""
MAX_ID = 65535
MAX_GATE_MS = 30000
LIGHT = "L"
BEEP = "B"
GATE = "G"
HEARTBEAT = "H"
STATUS = "S"
VERSION = "V"
VERBS = (LIGHT, BEEP, GATE, HEARTBEAT, STATUS, VERSION)
LAMPS = ("off", "green", "yellow", "red")
MODES = ("steady", "blink")
PATTERNS = ("off", "ok", "check", "deny", "alarm")
TOO_LONG = "line longer than 64 bytes"
_ZERO = 48
_NINE = 57


class WireError(Exception):
    """A line that is not part of the protocol; ``command_id`` is what the error reply carries."""

    def __init__(self, command_id: int, reason: str) -> None:
        super().__init__(reason)
        self.command_id = command_id
        self.reason = reason


def _number(word: bytes, max_digits: int) -> int:
    """The value of an all-digit word, or -1 (by hand: MicroPython's int() and ``in`` on bytes differ by port)."""
    if not word or len(word) > max_digits:
        return -1
    value = 0
    for byte in word:
        if byte < _ZERO or byte > _NINE:
            return -1
        value = value * 10 + byte - _ZERO
    return value


def parse(line: bytes) -> tuple[int, str, tuple[str, ...]]:
    """``(id, verb, args)`` of a host line, or WireError."""
    if len(line) > MAX_LINE_BYTES:
        raise WireError(0, TOO_LONG)
    for byte in line:
        if byte > 127:
            raise WireError(0, "not ASCII")
    words = line.strip().split()
    if not words:
        raise WireError(0, "expected '<id> <verb> [args]'")
    command_id = _number(words[0], 5)
    if command_id < 0 or command_id > MAX_ID:
        raise WireError(0, "bad id")
    if len(words) < 2:
        raise WireError(command_id, "expected '<id> <verb> [args]'")
    verb = words[1].decode()
    if verb not in VERBS:
        raise WireError(command_id, "unknown verb")
    args = tuple(word.decode() for word in words[2:])
    if _arguments_fit(verb, args):
        return command_id, verb, args
    raise WireError(command_id, "bad arguments for " + verb)


def _arguments_fit(verb: str, args: tuple[str, ...]) -> bool:
    if verb == LIGHT:
        return len(args) == 2 and args[0] in LAMPS and args[1] in MODES
    if verb == BEEP:
        return len(args) == 1 and args[0] in PATTERNS
    if verb == GATE:
        return len(args) == 1 and 0 <= _number(args[0].encode(), MAX_LINE_BYTES) <= MAX_GATE_MS
    return not args


def ok(command_id: int, text: str = "") -> bytes:
    """An ``ok`` reply line, cut to the line limit."""
    return _reply(str(command_id) + " ok" + (" " + text if text else ""))


def err(command_id: int, reason: str) -> bytes:
    """An ``err`` reply line, cut to the line limit."""
    return _reply(str(command_id) + " err " + reason)


def _reply(line: str) -> bytes:
    return line.encode()[: MAX_LINE_BYTES - 1] + b"\n"
