"""``gridpass flash``: plain-language refusals with the documented exit codes, the queue listed."""

from __future__ import annotations

import socket
from pathlib import Path

from cli.errors import EXIT_INPUT, EXIT_USAGE
from hardware.flash import firstboot
from tests.cli.conftest import District, gridpass
from tests.hardware.flash.pi_image import make_image
from tests.hardware.flash.profile import PROFILE


def _card(district: District, target: Path, *extra: str | Path) -> list[str | Path]:
    profile = district.dir / "profile.toml"
    profile.write_text(firstboot.to_toml(PROFILE))
    with socket.socket() as sock:  # a port nobody answers on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return [
        "flash", "card", target, "--profile", profile, "--site", "SH-PD-1", "--list-id", "CN-SH-PD",
        "--hub", f"http://127.0.0.1:{port}", "--broker", "127.0.0.1:1883", "--root-key", district.root_public,
        "--no-board", "--labels", district.dir / "labels", "--queue-dir", district.dir / "queue", *extra,
    ]  # fmt: skip


def test_a_card_is_prepared_and_queued_when_the_hub_is_away(district: District, tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("gph_test\n")
    image = make_image(tmp_path / "pios.img")
    result = gridpass(*_card(district, image, "--token-file", token))
    assert result.exit_code == 0, result.output
    assert "enrolment queued" in result.stdout
    listed = gridpass("flash", "queue", "--queue-dir", district.dir / "queue")
    assert len(listed.stdout.split()) == 1


def test_not_a_card_is_refused_in_plain_words(district: District, tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("gph_test\n")
    result = gridpass(*_card(district, tmp_path, "--token-file", token))
    assert result.exit_code == EXIT_INPUT
    assert "not a Raspberry Pi OS boot partition" in result.stderr
    assert "run the same command again" in result.stderr


def test_the_private_root_key_is_refused(district: District, tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("gph_test\n")
    args = _card(district, make_image(tmp_path / "pios.img"), "--token-file", token)
    args[args.index(district.root_public)] = district.root_private
    result = gridpass(*args)
    assert result.exit_code == EXIT_INPUT
    assert "PRIVATE district root key" in result.stderr


def test_usage_errors(district: District, tmp_path: Path) -> None:
    image = make_image(tmp_path / "pios.img")
    no_token = gridpass(*_card(district, image))
    assert no_token.exit_code == EXIT_USAGE
    assert "no enrolment token" in no_token.stderr
    token = tmp_path / "token"
    token.write_text("t")
    bad_broker = gridpass(*_card(district, image, "--token-file", token, "--broker", "nowhere"))
    assert bad_broker.exit_code == EXIT_USAGE
    wifi = gridpass(*_card(district, image, "--token-file", token, "--wifi-ssid", "depot"))
    assert wifi.exit_code == EXIT_USAGE
    assert "--wifi-psk-file" in wifi.stderr
