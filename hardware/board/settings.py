"""Pins and timings of the signal board. Another wiring is a change here only (see hardware/profiles/WIRING.md).

GPIO numbers are the RP2040's (GPn on a Raspberry Pi Pico), not the header's physical pin numbers.
"""

RED_PIN = 2
"""GP2 (Pico pin 4): red lamp driver."""
YELLOW_PIN = 3
"""GP3 (Pico pin 5): yellow lamp driver."""
GREEN_PIN = 4
"""GP4 (Pico pin 6): green lamp driver."""
BUZZER_PIN = 5
"""GP5 (Pico pin 7): piezo buzzer through a transistor, driven by PWM."""
RELAY_PIN = 6
"""GP6 (Pico pin 9): gate relay driver (relay module input or transistor + flyback diode)."""

LAMPS_ACTIVE_HIGH = True
"""True for MOSFET / transistor drivers; False for the common active-low relay modules."""
RELAY_ACTIVE_HIGH = True
"""True when a high pin energises the gate relay; the relay de-energised is always 'gate closed'."""

BUZZER_HZ = 2700
"""Piezo resonance; most 12 mm piezo discs are loudest near 2.7 kHz."""
BLINK_HALF_MS = 400
"""A blinking lamp is on this long, then off this long."""
FAILSAFE_MS = 5000
"""No heartbeat for this long closes the gate and blinks red (the terminal beats every second by default)."""
POLL_MS = 2
"""Main loop period: how long the board sleeps between looking at its serial line and its timers."""

LINK = "usb"
"""'usb': the terminal talks over the Pico's USB serial (/dev/ttyACM0 on the Pi); 'uart': over UART0 on GP0/GP1."""
UART_ID = 0
UART_TX_PIN = 0
UART_RX_PIN = 1
UART_BAUD = 115200
