"""The ``gridpass`` command: one entry point, one sub-command per job."""

from __future__ import annotations

from typing import Annotated

import typer

from cli import device, district, hub, lists, verify
from cli.decode import decode
from cli.demo import run as demo_run

app = typer.Typer(
    help="gridpass: offline-first health-pass checkpoints.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command("verify")(verify.verify)
app.command("decode")(decode)
app.add_typer(district.app, name="district")
app.add_typer(lists.app, name="lists")
app.add_typer(device.app, name="device")
app.add_typer(hub.app, name="hub")


@app.command("demo")
def demo(
    seed: Annotated[int, typer.Option(help="Seed for the passes the demo issues (same seed, same people).")] = 7,
    as_json: Annotated[bool, typer.Option("--json", help="End with one line of JSON for machines.")] = False,
) -> None:
    """Issue a district's worth of passes and decide each as a checkpoint would; print what happened."""
    raise typer.Exit(demo_run(seed=seed, as_json=as_json))


def main() -> None:
    """Console-script entry point."""
    app()
