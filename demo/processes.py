"""Child processes of the demo and the drills: started with their output in a log file, stopped cleanly (SIGTERM,
then SIGKILL after a bound), killed like a power cut, and all of them stopped when the run ends, whatever happens."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

STOP_WAIT_S = 20.0
LOG_TAIL_CHARS = 4000


class ProcessError(RuntimeError):
    """A child did not start, or died when it should be running; the message carries its log's tail."""


def gridpass_command(*args: str) -> list[str]:
    """``gridpass ARGS`` with this interpreter (works from a venv without the script on PATH)."""
    return [sys.executable, "-m", "cli", *args]


@dataclass
class Child:
    """One child process and its log."""

    name: str
    command: list[str]
    log_file: Path
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def running(self) -> bool:
        """Alive now."""
        return self.process is not None and self.process.poll() is None

    def start(self, env: dict[str, str] | None = None) -> None:
        """Start (again), appending to its log."""
        if self.running:
            raise ProcessError(f"{self.name} is already running")
        self.starts += 1
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as out:
            out.write(f"--- start {self.starts}: {' '.join(self.command)}\n".encode())
            out.flush()
            self.process = subprocess.Popen(  # noqa: S603 - our own command lines
                self.command, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}, start_new_session=True,
            )  # fmt: skip

    def stop(self, wait_s: float = STOP_WAIT_S) -> int | None:
        """SIGTERM (a clean stop), SIGKILL after ``wait_s``; returns the exit code."""
        process = self.process
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(wait_s)
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop in %.0f s: killing it", self.name, wait_s)
                process.kill()
                process.wait(wait_s)
        return process.returncode

    def kill(self) -> None:
        """SIGKILL: a power cut, no last words."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(STOP_WAIT_S)

    def check_alive(self) -> None:
        """Raise with the log's tail when the process died."""
        if self.process is not None and self.process.poll() is not None:
            raise ProcessError(f"{self.name} exited with {self.process.returncode}:\n{self.tail()}")

    def tail(self) -> str:
        """The end of its log."""
        try:
            return self.log_file.read_text(errors="replace")[-LOG_TAIL_CHARS:]
        except OSError:
            return ""


@dataclass
class Supervisor:
    """Every child of one run; ``close`` stops them all (terminals first, then the services they talk to)."""

    directory: Path
    children: dict[str, Child] = field(default_factory=dict)

    def add(self, name: str, command: list[str]) -> Child:
        """Register a child (not started)."""
        if name in self.children:
            raise ProcessError(f"a child named {name} already exists")
        child = Child(name, command, self.directory / "logs" / f"{name}.log")
        self.children[name] = child
        return child

    def close(self) -> None:
        """Stop every child, newest first."""
        for child in reversed(list(self.children.values())):
            try:
                child.stop()
            except (OSError, subprocess.SubprocessError) as exc:  # keep stopping the others
                log.warning("stopping %s: %s", child.name, exc)


def wait_until(condition: Callable[[], bool], timeout_s: float, *, poll_s: float = 0.2) -> bool:
    """Poll ``condition()`` until true or ``timeout_s``; returns whether it became true."""
    deadline = time.monotonic() + timeout_s
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(poll_s)
