"""`gridpass device check-config` and `status`."""

from __future__ import annotations

import json
from pathlib import Path

from protocol.keys import Alg, generate_private_key, public_key_pem
from tests.cli.conftest import gridpass


def write_config(tmp_path: Path, *, profile: str = "scanner") -> Path:
    root = tmp_path / "root.pub.pem"
    root.write_bytes(public_key_pem(generate_private_key(Alg.EDDSA).public_key()))
    config = tmp_path / "device.toml"
    config.write_text(
        f"""
[device]
id = "scanner-07"
profile = "{profile}"
site = "SH-PD-METRO-2"
data_dir = "{tmp_path / "var"}"

[camera]
kind = "synthetic"

[signal]
indicator = "console"

[lists]
root_key = "{root}"
list_id = "CN-SH-PD"
"""
    )
    return config


def test_check_config_ok_and_errors_with_key_paths(tmp_path: Path) -> None:
    good = write_config(tmp_path)
    result = gridpass("device", "check-config", good)
    assert result.exit_code == 0
    assert "ok: scanner-07 (scanner)" in result.stdout
    bad = write_config(tmp_path, profile="scaner")
    result = gridpass("device", "check-config", bad)
    assert result.exit_code == 3
    assert "device.profile" in result.stderr


def test_status_of_a_fresh_terminal(tmp_path: Path) -> None:
    result = gridpass("device", "status", "--config", write_config(tmp_path), "--json")
    assert result.exit_code == 0, result.output
    status = json.loads(result.stdout)
    assert status["device"] == "scanner-07"
    assert status["streams"]["events"]["backlog"] == 0
    assert status["lists"]["trust_seq"] == 0
    assert status["lists"]["stale"] is True
    assert status["last_decision"] is None
