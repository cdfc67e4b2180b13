"""The main job end to end, as a user runs it: ``gridpass demo --quick --json`` and the short drill, each a child
process starting its own broker, district center, hub and terminals; the summary line's numbers must hold."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
RUN_TIMEOUT_S = 600


def gridpass(*args: str) -> tuple[dict[str, Any], str]:
    done = subprocess.run(
        [sys.executable, "-m", "cli", *args], cwd=REPO, capture_output=True, text=True, timeout=RUN_TIMEOUT_S,
        check=False,
    )  # fmt: skip
    lines = done.stdout.strip().splitlines()
    assert lines, f"no summary line; exit {done.returncode}\n{done.stderr[-4000:]}"
    summary: dict[str, Any] = json.loads(lines[-1])
    assert done.returncode == (0 if summary.get("ok") else 1), done.stderr[-4000:]
    return summary, done.stderr


def test_the_demo_day_loses_nothing_and_doubles_nothing(tmp_path: Path) -> None:
    summary, log = gridpass("demo", "--quick", "--json", "--seed", "3", "--dir", str(tmp_path))
    assert summary["ok"], log[-4000:]
    events = summary["events"]
    assert events["terminals"] == events["hub"] == events["district"] > 0
    assert (summary["lost"], summary["doubled"], summary["unexpected"]) == (0, 0, 0)
    assert sum(summary["decisions"].values()) == events["terminals"]
    assert summary["decisions"]["pass"] > 0
    assert summary["decisions"]["deny"] > 0
    assert summary["incidents"] == {"terminals": 1, "hub": 1, "district": 1}
    assert summary["snapshots"]["terminals"] == summary["snapshots"]["hub"] == summary["snapshots"]["district"] > 0
    assert summary["catch_up_s"] is not None
    assert summary["revocation_propagation_s"] is not None
    assert not list(tmp_path.glob("**/*.pid")), "nothing of the run is left behind as running"


def test_the_short_drill_counts_every_event_at_the_district(tmp_path: Path) -> None:
    summary, log = gridpass("drill", "--faults", "6", "--span", "36", "--json", "--seed", "5", "--dir", str(tmp_path))
    assert summary["ok"], log[-4000:]
    assert summary["faults"] == len(summary["fault_log"]) == 6
    assert set(summary["fault_kinds"]) == {
        "kill_terminal", "kill_hub", "kill_broker", "cut_network", "district_down", "disk_full",
    }  # fmt: skip
    events = summary["events"]
    assert events["terminals"] == events["district"] > 0
    assert (summary["lost"], summary["doubled"]) == (0, 0)
