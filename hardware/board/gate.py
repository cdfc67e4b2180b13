"""The gate relay: opened for a time, closed by the board itself when the time is up."""

from output import Output


class Gate:
    """Relay energised = gate open; it starts closed."""

    def __init__(self, relay: Output) -> None:
        self.relay = relay
        self._until = 0
        self.relay.off()

    @property
    def is_open(self) -> bool:
        """Whether the relay is energised."""
        return self.relay.is_on

    def open_for(self, ms: int, now_ms: int) -> None:
        """Open for ``ms`` milliseconds from now (again from now if already open); 0 closes now."""
        if ms <= 0:
            self.close()
            return
        self._until = now_ms + ms
        self.relay.on()

    def close(self) -> None:
        """Close now."""
        self.relay.off()

    def tick(self, now_ms: int) -> None:
        """Close when the time is up."""
        if self.relay.is_on and now_ms >= self._until:
            self.relay.off()
