"""Generated documentation does not drift from the code."""

from __future__ import annotations

from cli.docgen import DOC_PATH, render


def test_cli_reference_is_current() -> None:
    assert DOC_PATH.read_text() == render(), "docs/cli.md is stale: run `.venv/bin/python -m cli.docgen`"


def test_every_command_is_documented() -> None:
    text = render()
    for command in ("gridpass verify", "gridpass demo", "gridpass district keygen", "gridpass district issue",
                    "gridpass district trust-list", "gridpass district revoke"):  # fmt: skip
        assert f"## `{command}`" in text
