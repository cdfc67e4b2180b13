"""Every shipped profile makes a valid terminal config on a card."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from device.config import validate
from hardware.flash.errors import FlashError
from hardware.flash.firstboot import Hub, device_config, to_toml
from hardware.flash.profiles import load_base
from hardware.profiles import list_profiles


@pytest.mark.parametrize("name", ["scanner", "camera", "handheld", *list_profiles()])
def test_each_shipped_profile_fills_into_a_valid_config(name: str) -> None:
    kind, raw = load_base(name)
    config = device_config(
        raw, device_id="t-1", profile_name=kind, site="SH-PD-1", grid_cell="", list_id="CN-SH-PD",
        hub=Hub("hub.example", 8883, b"-----BEGIN CERTIFICATE-----\n"),
    )  # fmt: skip
    loaded = validate(tomllib.loads(to_toml(config)))
    assert (loaded.device.id, loaded.device.profile, loaded.device.site) == ("t-1", kind, "SH-PD-1")
    assert "@" not in to_toml(config)


def test_an_unknown_profile_and_a_bad_file_are_refused(tmp_path: Path) -> None:
    with pytest.raises(FlashError, match="no profile"):
        load_base("toaster")
    bad = tmp_path / "mine.toml"
    bad.write_text("[device]\nprofile = 'toaster'\n")
    with pytest.raises(FlashError, match="must be one of"):
        load_base(str(bad))
    with pytest.raises(FlashError, match="cannot read"):
        load_base(str(tmp_path / "absent.toml"))
