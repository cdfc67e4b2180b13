"""``gridpass demo``: a day in a small district on this machine (broker, district center, hub, terminals, an outage,
a revocation issued offline, the catch-up, a terminal replaced), then a summary a person reads in ten seconds."""

from __future__ import annotations

import json
import signal
import tempfile
import threading
from pathlib import Path

from rich.console import Console


def run(*, seed: int, as_json: bool, keep_running: bool, quick: bool, directory: Path | None) -> int:
    """Run the demo; the exit code is 0 when nothing was lost or doubled and every decision was as expected."""
    console = Console(stderr=as_json)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    if directory is None:
        with tempfile.TemporaryDirectory(prefix="gridpass-demo-") as tmp:
            summary = _play(Path(tmp), seed=seed, keep_running=keep_running, quick=quick, console=console, stop=stop)
    else:
        summary = _play(directory, seed=seed, keep_running=keep_running, quick=quick, console=console, stop=stop)
    if summary is None:
        return 130
    if as_json:
        print(json.dumps(summary))
    return 0 if summary["ok"] else 1


def _play(
    directory: Path, *, seed: int, keep_running: bool, quick: bool, console: Console, stop: threading.Event
) -> dict[str, object] | None:
    from demo.day import run as run_day  # noqa: PLC0415 - the whole system loads only when the demo runs

    try:
        return run_day(directory, seed=seed, quick=quick, keep_running=keep_running, console=console, stop=stop)
    except KeyboardInterrupt:
        console.print("stopped: every process the demo started has been stopped")
        return None
