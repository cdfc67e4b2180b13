"""``gridpass drill``: seeded faults against a running district on this machine, then the count at the district."""

from __future__ import annotations

import json
import signal
import tempfile
import threading
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console


def drill(
    seed: Annotated[int, typer.Option(help="Seed of the fault schedule (same seed, same drill).")] = 11,
    faults: Annotated[int, typer.Option(min=1, max=1000, help="How many faults to inject.")] = 6,
    span_s: Annotated[float, typer.Option("--span", min=10, help="Seconds over which the faults are spread.")] = 60.0,
    as_json: Annotated[bool, typer.Option("--json", help="End with one line of JSON for machines.")] = False,
    directory: Annotated[
        Path | None, typer.Option("--dir", help="Keep the run's files (logs, databases) here instead of a temp dir.")
    ] = None,
) -> None:
    """Kill terminals, the hub and the broker, cut the network, take the district center down, fill a terminal's
    disk, then count every event at the district: lost 0, doubled 0, one line per fault."""
    from demo.drill import Drill  # noqa: PLC0415 - the whole system loads only when a drill runs

    console = Console(stderr=as_json)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        if directory is None:
            with tempfile.TemporaryDirectory(prefix="gridpass-drill-") as tmp:
                summary = Drill(Path(tmp), seed=seed, faults=faults, span_s=span_s, console=console).run(stop)
        else:
            summary = Drill(directory, seed=seed, faults=faults, span_s=span_s, console=console).run(stop)
    except KeyboardInterrupt:
        console.print("stopped: every process the drill started has been stopped")
        raise typer.Exit(130) from None
    if as_json:
        print(json.dumps(summary))
    raise typer.Exit(0 if summary["ok"] else 1)
