"""The traffic light: one lamp at a time, steady or blinking."""

from output import Output

OFF = "off"
GREEN = "green"
YELLOW = "yellow"
RED = "red"
LAMPS = (OFF, GREEN, YELLOW, RED)
STEADY = "steady"
BLINK = "blink"
MODES = (STEADY, BLINK)


class Light:
    """Three lamps; ``tick`` makes the blinking."""

    def __init__(self, red: Output, yellow: Output, green: Output, blink_half_ms: int) -> None:
        self.lamps = {RED: red, YELLOW: yellow, GREEN: green}
        self.blink_half_ms = blink_half_ms
        self.lamp = OFF
        self.mode = STEADY
        self._since = 0
        self._show(lit=False)

    def set(self, lamp: str, mode: str, now_ms: int) -> None:
        """Light ``lamp`` (one of LAMPS) ``mode`` (one of MODES); a blink starts lit."""
        if lamp not in LAMPS or mode not in MODES:
            raise ValueError("no such lamp or mode")
        self.lamp = lamp
        self.mode = mode
        self._since = now_ms
        self._show(lit=lamp != OFF)

    def tick(self, now_ms: int) -> None:
        """Advance a blink."""
        if self.mode == BLINK and self.lamp != OFF:
            self._show(lit=((now_ms - self._since) // self.blink_half_ms) % 2 == 0)

    def state(self) -> str:
        """'red:blink', 'off:steady', ..."""
        return self.lamp + ":" + self.mode

    def _show(self, lit: bool) -> None:
        for name, output in self.lamps.items():
            output.set(lit and name == self.lamp)
