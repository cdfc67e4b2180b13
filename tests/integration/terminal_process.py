"""A terminal as a child process for the fault-tolerance tests: ``python -m tests.integration.terminal_process CONFIG``.

It is ``gridpass device run`` with the camera and signals replaced by fakes (a camera that never has a frame), so
the only events it sends are the ones the test wrote into its store beforehand, and the test can count them exactly.
SIGTERM stops it cleanly (the link publishes ``stopped``); SIGKILL is the power cut.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from pathlib import Path

from device.app import Signals, build
from device.camera.fake import FakeCamera
from device.clock import SystemClock
from device.commands import ExitRequest
from device.config import load
from device.signal.fake import FakeGate, FakeIndicator


class SyncedNtp:
    """The terminal's clock counts as NTP-synchronised."""

    def synchronized(self) -> bool:
        """Always synchronised."""
        return True


def main(argv: list[str]) -> int:
    """Run the terminal of the config file ``argv[0]`` until SIGTERM."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    config = load(Path(argv[0]))
    clock = SystemClock()
    terminated = threading.Event()
    current = [threading.Event()]

    def terminate(*_: object) -> None:
        terminated.set()
        current[0].set()

    signal.signal(signal.SIGTERM, terminate)
    while not terminated.is_set():  # as `gridpass device run`: a pushed config or a restart command rebuilds it
        app = build(
            config,
            clock=clock,
            ntp=SyncedNtp(),
            camera_factory=lambda: FakeCamera([], clock=clock.monotonic),
            signals=Signals(FakeIndicator(), FakeGate()),
        )
        current[0] = threading.Event()
        if terminated.is_set():
            current[0].set()
        if app.run(current[0]) is not ExitRequest.RESTART:
            break
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
