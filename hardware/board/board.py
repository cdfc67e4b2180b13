"""The signal board's behaviour: host lines in, replies out, lamps, buzzer and gate driven, the fail-safe kept.

Time is a plain, never-wrapping millisecond count since power-up that the caller passes in (``main.py`` makes it
from ``time.ticks_ms``); nothing here reads a clock, a pin or the serial line by itself.
"""

import wire
from buzzer import Buzzer
from failsafe import FailSafe
from gate import Gate
from light import BLINK, OFF, RED, STEADY, Light

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ports import Link

FAILSAFE_REFUSAL = "failsafe: heartbeat first"


class Board:
    """Everything the board does, one ``step`` at a time."""

    def __init__(
        self, link: "Link", *, light: Light, buzzer: Buzzer, gate: Gate, failsafe: FailSafe, version: str
    ) -> None:
        self.link = link
        self.light = light
        self.buzzer = buzzer
        self.gate = gate
        self.failsafe = failsafe
        self.version = version
        self.now_ms = 0
        self.errors = 0
        """Lines refused since power-up."""

    def step(self, now_ms: int) -> None:
        """Answer what arrived, then let the fail-safe and the timers act."""
        self.now_ms = now_ms
        for line in self.link.read_lines():
            self.link.write(self.handle(line, now_ms))
        if self.failsafe.check(now_ms):
            self.gate.close()
            self.light.set(RED, BLINK, now_ms)
        self.gate.tick(now_ms)
        self.light.tick(now_ms)
        self.buzzer.tick(now_ms)

    def handle(self, line: bytes | None, now_ms: int) -> bytes:
        """The reply to one line (None: a line that was too long)."""
        if line is None:
            self.errors += 1
            return wire.err(0, wire.TOO_LONG)
        try:
            command_id, verb, args = wire.parse(line)
        except wire.WireError as exc:
            self.errors += 1
            return wire.err(exc.command_id, exc.reason)
        refusal = self._refusal(verb, args)
        if refusal:
            self.errors += 1
            return wire.err(command_id, refusal)
        return wire.ok(command_id, self._do(verb, args, now_ms))

    def _refusal(self, verb: str, args: tuple[str, ...]) -> str:
        """While the fail-safe holds, the gate stays closed and the light red until a heartbeat."""
        if self.failsafe.tripped and (verb == wire.LIGHT or (verb == wire.GATE and int(args[0]) > 0)):
            return FAILSAFE_REFUSAL
        return ""

    def _do(self, verb: str, args: tuple[str, ...], now_ms: int) -> str:
        if verb == wire.LIGHT:
            self.light.set(args[0], args[1], now_ms)
        elif verb == wire.BEEP:
            self.buzzer.play(args[0], now_ms)
        elif verb == wire.GATE:
            self.gate.open_for(int(args[0]), now_ms)
        elif verb == wire.HEARTBEAT:
            if self.failsafe.feed(now_ms):
                self.light.set(OFF, STEADY, now_ms)
        elif verb == wire.STATUS:
            return self.status()
        elif verb == wire.VERSION:
            return self.version
        return ""

    def status(self) -> str:
        """'light=red:blink gate=closed failsafe=1 up=12' (up in seconds)."""
        return (
            "light="
            + self.light.state()
            + " gate="
            + ("open" if self.gate.is_open else "closed")
            + " failsafe="
            + ("1" if self.failsafe.tripped else "0")
            + " up="
            + str(self.now_ms // 1000)
        )
