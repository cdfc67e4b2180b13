"""Power-up: wire the pins of settings.py to the board's classes and run the loop.

Ctrl-C on the USB serial (as mpremote sends before copying files) stops the loop with the gate closed and the red
lamp lit, and leaves the REPL to the flashing tool. Any other failure closes the gate and resets the board.
"""

import select
import sys
import time

import machine
import settings
from board import Board
from buzzer import Buzzer
from failsafe import FailSafe
from gate import Gate
from light import Light
from link import StreamLink, UartLink
from manifest import NAME, VERSION
from output import Output
from wire import MAX_LINE_BYTES

RESET_DELAY_MS = 1000
"""Pause before resetting after a crash, so that a crash loop cannot hammer the relay."""


def output(pin_id: int, active_high: bool) -> Output:
    """An output pin, off."""
    return Output(machine.Pin(pin_id, machine.Pin.OUT), active_high)


def open_link() -> StreamLink | UartLink:
    """The serial line to the terminal."""
    if settings.LINK == "uart":
        uart = machine.UART(
            settings.UART_ID,
            baudrate=settings.UART_BAUD,
            tx=machine.Pin(settings.UART_TX_PIN),
            rx=machine.Pin(settings.UART_RX_PIN),
        )
        return UartLink(uart, MAX_LINE_BYTES)
    poller = select.poll()
    poller.register(sys.stdin, select.POLLIN)
    return StreamLink(sys.stdin.buffer, sys.stdout.buffer, poller, MAX_LINE_BYTES)


def build(link: StreamLink | UartLink, now_ms: int) -> Board:
    """The board with its outputs in their safe state: lamps off, buzzer silent, gate closed."""
    lamps_high = settings.LAMPS_ACTIVE_HIGH
    light = Light(
        output(settings.RED_PIN, lamps_high),
        output(settings.YELLOW_PIN, lamps_high),
        output(settings.GREEN_PIN, lamps_high),
        settings.BLINK_HALF_MS,
    )
    buzzer = Buzzer(machine.PWM(machine.Pin(settings.BUZZER_PIN)), settings.BUZZER_HZ)
    gate = Gate(output(settings.RELAY_PIN, settings.RELAY_ACTIVE_HIGH))
    failsafe = FailSafe(settings.FAILSAFE_MS, now_ms)
    return Board(link, light=light, buzzer=buzzer, gate=gate, failsafe=failsafe, version=NAME + " " + VERSION)


def run(board: Board) -> None:
    """Step forever, keeping a millisecond count that does not wrap with ticks_ms."""
    now_ms = board.now_ms
    last = time.ticks_ms()
    while True:
        ticks = time.ticks_ms()
        now_ms += time.ticks_diff(ticks, last)
        last = ticks
        board.step(now_ms)
        time.sleep_ms(settings.POLL_MS)


def safe(board: Board) -> None:
    """Gate closed, red lamp on, buzzer silent."""
    board.gate.close()
    board.light.set("red", "steady", board.now_ms)
    board.buzzer.play("off", board.now_ms)


def main() -> None:
    """Build and run; on the way out leave everything safe."""
    board = build(open_link(), 0)
    try:
        run(board)
    except KeyboardInterrupt:
        safe(board)
    except Exception:  # noqa: BLE001 - the top of the board's only loop: any fault must close the gate
        safe(board)
        time.sleep_ms(RESET_DELAY_MS)
        machine.reset()


if __name__ == "__main__":
    main()
