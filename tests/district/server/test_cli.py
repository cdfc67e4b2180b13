"""``gridpass district hub-token`` and ``gridpass district serve``, run for real (serve as a child process)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from typer.testing import CliRunner

from cli.main import app
from tests.district.server.support import District
from tests.services.mosquitto import HOST, free_port

REPO = Path(__file__).resolve().parents[3]
WAIT_S = 30.0


def test_a_hub_is_admitted_and_the_center_served_to_it(district: District, tmp_path: Path) -> None:
    tokens, token_file = tmp_path / "hubs.tokens", tmp_path / "hub-1.token"
    result = CliRunner().invoke(
        app, ["district", "hub-token", "hub-1", "--tokens", str(tokens), "--out", str(token_file)]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout.splitlines()[-1])["hub"] == "hub-1"
    token = token_file.read_text().strip()
    assert token not in result.stdout
    again = CliRunner().invoke(
        app, ["district", "hub-token", "hub-1", "--tokens", str(tokens), "--out", str(tmp_path / "x")]
    )
    assert again.exit_code == 3
    district.sign_trust_list(4)
    port = free_port()
    command = [
        sys.executable, "-c", "from cli.main import main; main()", "district", "serve",
        "--data", str(tmp_path / "data"), "--tokens", str(tokens),
        "--root", str(district.root_public_file), "--trust-list", str(district.directory / "trust.cose"),
        "--host", HOST, "--port", str(port),
    ]  # fmt: skip
    log = (tmp_path / "serve.log").open("wb")
    process = subprocess.Popen(command, cwd=REPO, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + WAIT_S
        while True:
            try:
                answer = httpx.get(f"http://{HOST}:{port}/v1/lists", headers={"Authorization": f"Bearer {token}"})
                break
            except httpx.TransportError:
                assert process.poll() is None, (tmp_path / "serve.log").read_text()
                assert time.monotonic() < deadline, "the center did not start"
                time.sleep(0.1)
        assert answer.json() == {"trust": 4, "revocations": {}}
        assert httpx.get(f"http://{HOST}:{port}/v1/lists").status_code == 401
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(WAIT_S)
        log.close()
    assert code == 0


def test_serve_refuses_a_missing_root_key(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        [
            "district",
            "serve",
            "--data",
            str(tmp_path),
            "--tokens",
            str(tmp_path / "t"),
            "--root",
            str(tmp_path / "no.pem"),
        ],
    )
    assert result.exit_code == 3
    assert "no.pem" in result.output
