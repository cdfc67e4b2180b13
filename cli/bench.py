"""``gridpass bench``: every benchmark of the project, one table, each figure next to its same-run reference.

The benchmarks live in the source tree (``tests/bench/``) and start their own mosquitto and PostgreSQL, so this
command works from a source checkout only (``pip install -e .`` or ``.venv/bin/gridpass`` in the repository); an
installed wheel without the tests says so and exits 3. The work is done by ``tests.bench.report``.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from cli.errors import EXIT_INPUT, fail

REPO = Path(__file__).resolve().parents[1]
EXIT_FAILED = 1
"""At least one bench failed (it is in the table as ``failed``)."""


def bench(
    quick: Annotated[bool, typer.Option("--quick", help="Tiny sizes: checks the machinery in a few minutes.")] = False,
    only: Annotated[
        list[str] | None, typer.Option("--only", help="Run only this bench: verify, decode, ... fleet.")
    ] = None,
    output: Annotated[
        Path | None, typer.Option(help="Markdown file to write (default docs/benchmarks.md in the checkout).")
    ] = None,
) -> None:
    """Run every benchmark; print one table and write it as markdown with the date, machine and commit."""
    if not (REPO / "tests" / "bench" / "report.py").exists():
        fail(f"the benchmarks are in the source checkout (tests/bench/), not found under {REPO}", EXIT_INPUT)
    if str(REPO) not in sys.path:  # a console script does not put the checkout on the path; the benches live there
        sys.path.insert(0, str(REPO))
    from tests.bench import report  # noqa: PLC0415 - the source checkout only, and only for this command

    try:
        benches = report.select(only or ())
    except ValueError as exc:
        fail(str(exc), EXIT_INPUT)
    logging.basicConfig(level=logging.ERROR)  # the benches' links log every (dis)connect as a warning
    outcomes = report.run([b.name for b in benches], quick=quick, output=output or report.DEFAULT_OUTPUT)
    if any(outcome.error for outcome in outcomes):
        raise typer.Exit(EXIT_FAILED)
