"""The buzzer: named patterns of beeps, played by PWM without blocking the loop."""

TYPE_CHECKING = False
if TYPE_CHECKING:
    from machine import PWM

PATTERNS = {
    "off": (),
    "ok": (80,),
    "check": (80, 80, 80),
    "deny": (600,),
    "alarm": (150, 100, 150, 100, 150, 100, 150),
}
"""Each pattern alternates sound and silence, in milliseconds, starting with sound."""
DUTY_ON = 32768
"""Half duty: the loudest square wave."""


class Buzzer:
    """A piezo on a PWM pin."""

    def __init__(self, pwm: "PWM", hz: int) -> None:
        self.pwm = pwm
        self.pwm.freq(hz)
        self.pattern = "off"
        self._steps = PATTERNS["off"]
        self._start = 0
        self.sounding = False
        self._sound(on=False)

    def play(self, pattern: str, now_ms: int) -> None:
        """Start ``pattern`` (a key of PATTERNS), cutting off the one playing."""
        if pattern not in PATTERNS:
            raise ValueError("no such pattern")
        self.pattern = pattern
        self._steps = PATTERNS[pattern]
        self._start = now_ms
        self.tick(now_ms)

    def tick(self, now_ms: int) -> None:
        """Sound or silence, by where in the pattern the time is."""
        elapsed = now_ms - self._start
        on = False
        for index, duration in enumerate(self._steps):
            if elapsed < duration:
                on = index % 2 == 0
                break
            elapsed -= duration
        else:
            self._steps = PATTERNS["off"]
            self.pattern = "off"
        self._sound(on=on)

    def _sound(self, on: bool) -> None:
        if on != self.sounding or not on:
            self.pwm.duty_u16(DUTY_ON if on else 0)
        self.sounding = on
