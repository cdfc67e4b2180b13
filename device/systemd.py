"""systemd's notify protocol, for ``Type=notify`` units with ``WatchdogSec=``: READY, WATCHDOG and STOPPING sent as
datagrams to ``$NOTIFY_SOCKET`` (a path, or ``@name`` in the abstract namespace). Outside systemd it does nothing.

The hub has its own copy (``hub/systemd.py``): device and hub never import each other, and ``protocol/`` does no I/O.
"""

from __future__ import annotations

import logging
import os
import re
import socket
from collections.abc import Mapping

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 4096
"""Longest notification sent (systemd reads far more; a status line never needs it)."""
MAX_SOCKET_PATH_BYTES = 107
"""sun_path holds 108 bytes with its terminator."""
USEC_PER_S = 1_000_000
_DECIMAL = re.compile(r"[0-9]{1,19}")


class Notifier:
    """Tells the service manager how the service is; every method is a no-op when not run by systemd."""

    def __init__(self, address: str | None, watchdog_s: float | None = None) -> None:
        self.address = _socket_address(address)
        self.watchdog_s = watchdog_s
        """Ping at least this often; None: no watchdog configured."""
        self.failures = 0
        self._next_ping: float | None = None

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Notifier:
        """From ``NOTIFY_SOCKET``, ``WATCHDOG_USEC`` and ``WATCHDOG_PID`` (half the watchdog time between pings)."""
        env = os.environ if environ is None else environ
        return cls(env.get("NOTIFY_SOCKET"), watchdog_interval_s(env))

    @property
    def enabled(self) -> bool:
        """Whether a service manager listens."""
        return self.address is not None

    def notify(self, message: str) -> bool:
        """Send one notification (``KEY=value`` lines); False when it could not be sent or nobody listens."""
        if self.address is None:
            return False
        data = message.encode("utf-8", "replace")[:MAX_MESSAGE_BYTES]
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.sendto(data, self.address)
        except OSError as exc:
            self.failures += 1
            log.warning("cannot notify systemd (%s): %s", message.split("=", 1)[0], exc)
            return False
        return True

    def ready(self, status: str = "") -> bool:
        """Startup finished."""
        return self.notify("READY=1" + (f"\nSTATUS={_one_line(status)}" if status else ""))

    def stopping(self) -> bool:
        """Shutdown began."""
        return self.notify("STOPPING=1")

    def status(self, text: str) -> bool:
        """A one-line status for ``systemctl status``."""
        return self.notify(f"STATUS={_one_line(text)}")

    def watchdog(self) -> bool:
        """Alive."""
        return self.notify("WATCHDOG=1")

    def tick(self, monotonic_s: float) -> bool:
        """From the main loop: ping the watchdog when half its time has passed since the last ping."""
        if self.watchdog_s is None or self.address is None:
            return False
        if self._next_ping is not None and monotonic_s < self._next_ping:
            return False
        self._next_ping = monotonic_s + self.watchdog_s
        return self.watchdog()


def watchdog_interval_s(environ: Mapping[str, str]) -> float | None:
    """Half of ``WATCHDOG_USEC`` in seconds, when it is meant for this process (``WATCHDOG_PID`` unset or ours)."""
    usec, pid = environ.get("WATCHDOG_USEC", ""), environ.get("WATCHDOG_PID", "")
    if not _DECIMAL.fullmatch(usec) or int(usec) == 0:
        return None
    if pid and (not _DECIMAL.fullmatch(pid) or int(pid) != os.getpid()):
        return None
    return int(usec) / USEC_PER_S / 2


def _socket_address(address: str | None) -> str | None:
    if not address or len(address.encode()) > MAX_SOCKET_PATH_BYTES:
        return None
    if address.startswith("@"):
        return "\0" + address[1:]
    if not address.startswith("/"):
        return None
    return address


def _one_line(text: str) -> str:
    return " ".join(text.split())[:200]
