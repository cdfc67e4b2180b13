"""`gridpass demo` (first stage): every decision as expected, and a summary machines can read."""

from __future__ import annotations

import json

from tests.cli.conftest import gridpass


def test_demo_json_summary() -> None:
    result = gridpass("demo", "--seed", "3", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["seed"] == 3
    assert summary["unexpected"] == 0
    assert sum(summary["decisions"].values()) == summary["cases"] > 10
    assert all(summary["decisions"][kind] > 0 for kind in ("pass", "check", "deny", "invalid"))
