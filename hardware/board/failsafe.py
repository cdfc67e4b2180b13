"""The heartbeat watchdog: a terminal that stops beating must not leave the gate open."""


class FailSafe:
    """Trips when no heartbeat came for ``timeout_ms``; the next heartbeat resets it."""

    def __init__(self, timeout_ms: int, now_ms: int) -> None:
        self.timeout_ms = timeout_ms
        self._last = now_ms
        self.tripped = False
        self.trips = 0

    def feed(self, now_ms: int) -> bool:
        """A heartbeat; True when it ends a trip."""
        recovered = self.tripped
        self.tripped = False
        self._last = now_ms
        return recovered

    def check(self, now_ms: int) -> bool:
        """True exactly once, when the silence first exceeds the timeout."""
        if not self.tripped and now_ms - self._last >= self.timeout_ms:
            self.tripped = True
            self.trips += 1
            return True
        return False
