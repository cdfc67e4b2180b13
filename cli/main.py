"""The ``gridpass`` command: one entry point, one sub-command per job."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli import device, district, flash, hub, lists, release, verify
from cli.bench import bench
from cli.decode import decode
from cli.demo import run as demo_run
from cli.drill import drill

app = typer.Typer(
    help="gridpass: offline-first health-pass checkpoints.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command("verify")(verify.verify)
app.command("decode")(decode)
app.command("bench")(bench)
app.command("drill")(drill)
app.add_typer(district.app, name="district")
app.add_typer(lists.app, name="lists")
app.add_typer(device.app, name="device")
app.add_typer(hub.app, name="hub")
app.add_typer(flash.app, name="flash")
app.add_typer(release.app, name="release")


@app.command("demo")
def demo(
    seed: Annotated[int, typer.Option(help="Seed for the people and their passes (same seed, same people).")] = 7,
    as_json: Annotated[bool, typer.Option("--json", help="End with one line of JSON for machines.")] = False,
    keep_running: Annotated[
        bool, typer.Option("--keep-running", help="Leave everything running afterwards to explore the dashboard.")
    ] = False,
    quick: Annotated[bool, typer.Option("--quick", help="Shorter phases (for tests and a first look).")] = False,
    directory: Annotated[
        Path | None, typer.Option("--dir", help="Keep the run's files (logs, databases) here instead of a temp dir.")
    ] = None,
) -> None:
    """A day in a small district on this machine: broker, district center, hub, scanners, a camera and a handheld;
    an outage with a revocation issued offline, the catch-up, a terminal replaced; then the counts everywhere."""
    raise typer.Exit(demo_run(seed=seed, as_json=as_json, keep_running=keep_running, quick=quick, directory=directory))


def main() -> None:
    """Console-script entry point."""
    app()
