"""How the command line reports failures: one message that says what to do, and a documented exit code."""

from __future__ import annotations

import sys
from typing import NoReturn

import typer

EXIT_USAGE = 2
"""Wrong arguments (also what typer uses for its own usage errors)."""
EXIT_INPUT = 3
"""A file could not be read or holds no usable content."""


def fail(message: str, code: int = EXIT_INPUT) -> NoReturn:
    """Print ``gridpass: message`` on stderr and exit with ``code``."""
    print(f"gridpass: {message}", file=sys.stderr)
    raise typer.Exit(code)


def warn(message: str) -> None:
    """A line on stderr that does not stop the command."""
    print(f"gridpass: {message}", file=sys.stderr)
