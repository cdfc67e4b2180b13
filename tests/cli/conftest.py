"""Fixtures for the command line: a district made with the real tools, and a runner that keeps stdout apart."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from cli.main import app


@dataclass(frozen=True)
class District:
    """Key files, a trust list and a green pass, all made through `gridpass district`."""

    dir: Path
    root_public: Path
    root_private: Path
    issuer_private: Path
    trust: Path
    pass_json: dict[str, object]

    @property
    def qr(self) -> str:
        return str(self.pass_json["qr"])


def gridpass(*args: str | Path, stdin: str | None = None) -> Result:
    """Run `gridpass ARGS...` in-process."""
    return CliRunner().invoke(app, [str(a) for a in args], input=stdin)


def last_json(result: Result) -> dict[str, object]:
    """The contract of verify: the last stdout line is one JSON object."""
    line = result.stdout.strip().splitlines()[-1]
    value = json.loads(line)
    assert isinstance(value, dict)
    return value


@pytest.fixture
def district(tmp_path: Path) -> District:
    for name, alg in (("root", "eddsa"), ("hz", "es256")):
        assert gridpass("district", "keygen", name, "--alg", alg, "--out", tmp_path).exit_code == 0
    trust = tmp_path / "trust.cose"
    made = gridpass(
        "district", "trust-list", "--root", tmp_path / "root.key.pem", "--out", trust,
        "--issuer", f"{tmp_path / 'hz.pub.pem'}=CN-ZJ-HZ",
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    issued = gridpass("district", "issue", "--key", tmp_path / "hz.key.pem", "--iss", "CN-ZJ-HZ", "--json")
    assert issued.exit_code == 0, issued.output
    return District(
        tmp_path,
        tmp_path / "root.pub.pem",
        tmp_path / "root.key.pem",
        tmp_path / "hz.key.pem",
        trust,
        json.loads(issued.stdout),
    )
