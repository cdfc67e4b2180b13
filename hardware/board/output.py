"""One digital output (a lamp driver or the relay) that knows whether it is active high or low."""

TYPE_CHECKING = False
if TYPE_CHECKING:
    from machine import Pin


class Output:
    """A pin driven on or off; it starts off."""

    def __init__(self, pin: "Pin", active_high: bool = True) -> None:
        self.pin = pin
        self.active_high = active_high
        self.is_on = False
        self.off()

    def on(self) -> None:
        """Energise the load."""
        self.pin.value(1 if self.active_high else 0)
        self.is_on = True

    def off(self) -> None:
        """De-energise the load."""
        self.pin.value(0 if self.active_high else 1)
        self.is_on = False

    def set(self, lit: bool) -> None:
        """On or off."""
        if lit:
            self.on()
        else:
            self.off()
