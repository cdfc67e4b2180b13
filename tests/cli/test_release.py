"""``gridpass release build`` and ``sign``: a bundle the terminal's installer accepts, made with the real tools."""

from __future__ import annotations

from pathlib import Path

from cli.errors import EXIT_INPUT
from device.update.bundle import open_bundle
from district.keyfiles import read_public
from tests.cli.conftest import gridpass
from tests.device.update.support import make_wheel


def test_build_then_sign_makes_a_bundle_the_installer_opens(tmp_path: Path) -> None:
    assert gridpass("district", "keygen", "release", "--alg", "eddsa", "--out", tmp_path).exit_code == 0
    wheel = make_wheel(tmp_path / "w", "1.0.0")
    bundle = tmp_path / "gridpass-1.0.0.bundle"
    built = gridpass("release", "build", wheel, "--version", "1.0.0", "--out", bundle)
    assert built.exit_code == 0, built.output
    assert "unsigned" in built.stdout
    signed = gridpass("release", "sign", bundle, "--key", tmp_path / "release.key.pem")
    assert signed.exit_code == 0, signed.output
    key = read_public(tmp_path / "release.pub.pem")
    opened = open_bundle(bundle, key, tmp_path / "opened")  # type: ignore[arg-type]
    assert opened.manifest.version == "1.0.0"
    assert opened.manifest.entry == "cli.main:main"


def test_an_es256_key_and_a_non_wheel_are_refused(tmp_path: Path) -> None:
    assert gridpass("district", "keygen", "p256", "--alg", "es256", "--out", tmp_path).exit_code == 0
    wheel = make_wheel(tmp_path / "w", "1.0.0")
    wrong_key = gridpass(
        "release", "build", wheel, "--version", "1", "--out", tmp_path / "b", "--key", tmp_path / "p256.key.pem"
    )
    assert wrong_key.exit_code == EXIT_INPUT
    assert "not an Ed25519 key" in wrong_key.stderr
    not_wheel = gridpass("release", "build", tmp_path / "p256.pub.pem", "--version", "1", "--out", tmp_path / "b")
    assert not_wheel.exit_code == EXIT_INPUT
    assert "not a wheel" in not_wheel.stderr
