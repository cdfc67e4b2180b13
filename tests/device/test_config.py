"""Config: a good file loads, and every mistake is reported with its key path."""

from __future__ import annotations

from pathlib import Path

import pytest

from device.config import ConfigError, load, validate

GOOD = """
[device]
id = "scanner-01"
profile = "scanner"
site = "SH-PD-METRO-2"

[camera]
kind = "synthetic"

[signal]
indicator = "gpio"
gate = "gpio"
[signal.gpio]
green = 17
yellow = 27
red = 22
relay = 24

[lists]
root_key = "/etc/gridpass/root.pub.pem"
list_id = "CN-SH-PD"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "device.toml"
    path.write_text(text)
    return path


def test_a_good_config_loads_with_defaults(tmp_path: Path) -> None:
    config = load(write(tmp_path, GOOD))
    assert config.device.id == "scanner-01"
    assert config.scan.max_list_age_s == 72 * 3600
    assert config.signal.gpio is not None and config.signal.gpio.relay == 24


@pytest.mark.parametrize(
    ("change", "key"),
    [
        (('profile = "scanner"', 'profile = "scaner"'), "device.profile"),
        (('id = "scanner-01"', 'id = "Scanner 01"'), "device.id"),
        (('kind = "synthetic"', 'kind = "synthetic"\nfsp = 15'), "camera.fsp"),
        (("red = 22", "red = 99"), "signal.gpio.red"),
        (('list_id = "CN-SH-PD"', 'list_id = "CN/SH"'), "lists.list_id"),
        (("relay = 24\n", ""), "signal"),
    ],
)
def test_mistakes_are_reported_with_their_key_path(tmp_path: Path, change: tuple[str, str], key: str) -> None:
    with pytest.raises(ConfigError) as err:
        load(write(tmp_path, GOOD.replace(*change)))
    assert key in [path for path, _ in err.value.problems]


def test_unreadable_and_invalid_toml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load(tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load(write(tmp_path, "[device\n"))


def test_several_problems_are_all_reported() -> None:
    with pytest.raises(ConfigError) as err:
        validate({"device": {"id": "X"}, "extra": 1})
    keys = [path for path, _ in err.value.problems]
    assert {"device.id", "device.profile", "device.site", "camera", "signal", "lists", "extra"} <= set(keys)
