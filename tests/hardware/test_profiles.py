"""The shipped device profiles: each one, filled in as the flashing tool does, is a valid device config."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from device.config import ConfigError, validate
from hardware import profiles
from hardware.profiles import KINDS, PLACEHOLDERS, ProfileError, fill, list_profiles, load_profile, unfilled

VALUES = {
    "DEVICE_ID": "scanner-sh-pd-1-3fa9c2",
    "SITE": "sh-pd-1",
    "GRID_CELL": "PD-0412",
    "LIST_ID": "CN-SH-PD",
    "BROKER_HOST": "hub.sh-pd.example",
}


def filled(name: str) -> dict[str, Any]:
    config = fill(load_profile(name), VALUES)
    config["sync"]["ca_file"] = "/etc/gridpass/hub-ca.pem"
    return config


def test_the_three_profiles_of_the_issue_are_shipped() -> None:
    assert list_profiles() == ["camera-pi-picam", "handheld-pi-touch-gps", "scanner-pi4-usbcam"]
    assert sorted(KINDS.values()) == list_profiles()


@pytest.mark.parametrize("name", list_profiles())
def test_each_profile_filled_in_is_a_valid_config(name: str) -> None:
    config = validate(filled(name), name)
    assert config.device.id == VALUES["DEVICE_ID"]
    assert config.device.profile in KINDS
    assert KINDS[config.device.profile] == name
    assert str(config.device.data_dir) == "/var/lib/gridpass"
    assert str(config.lists.root_key).startswith("/etc/gridpass/")
    assert config.sync is not None
    assert config.sync.broker_host == VALUES["BROKER_HOST"]


@pytest.mark.parametrize("name", list_profiles())
def test_a_profile_uses_only_documented_placeholders_and_fill_removes_them(name: str) -> None:
    raw = load_profile(name)
    assert set(unfilled(raw)) <= set(PLACEHOLDERS)
    assert "DEVICE_ID" in unfilled(raw)
    assert unfilled(fill(raw, VALUES)) == []
    assert unfilled(raw) == unfilled(load_profile(name)), "fill must not change the loaded profile"


@pytest.mark.parametrize("name", list_profiles())
def test_an_unfilled_profile_is_refused_by_the_config_models(name: str) -> None:
    with pytest.raises(ConfigError) as caught:
        validate(load_profile(name), name)
    assert "device.id" in {key for key, _ in caught.value.problems}


def test_what_each_profile_drives() -> None:
    scanner = validate(filled("scanner"))
    assert (scanner.camera.kind, scanner.signal.indicator, scanner.signal.gate) == ("opencv", "serial", "serial")
    assert scanner.signal.serial is not None
    assert scanner.signal.serial.heartbeat_s < 5.0, "the board's fail-safe (5 s) must be longer than the heartbeat"
    camera = validate(filled("camera"))
    assert (camera.camera.kind, camera.signal.gate) == ("picamera", "none")
    assert camera.snapshots is not None
    handheld = validate(filled("handheld"))
    assert handheld.handheld is not None
    assert (handheld.handheld.gps.kind, handheld.handheld.gps.port) == ("nmea", "/dev/serial0")
    assert handheld.signal.gpio is not None
    assert handheld.signal.gpio.relay is None


def test_kinds_load_their_default_profile() -> None:
    assert load_profile("scanner") == load_profile("scanner-pi4-usbcam")


def test_unknown_profiles_and_placeholders_are_refused() -> None:
    with pytest.raises(ProfileError, match="no profile 'kiosk'"):
        load_profile("kiosk")
    with pytest.raises(ProfileError, match="unknown placeholders"):
        fill(load_profile("scanner"), {**VALUES, "PASSWORD": "x"})
    with pytest.raises(ProfileError, match="no value for placeholder @SITE@"):
        fill(load_profile("scanner"), {key: value for key, value in VALUES.items() if key != "SITE"})


@given(st.text(max_size=40))
def test_fill_puts_any_value_in_literally_or_refuses_it(site: str) -> None:
    try:
        config = fill(load_profile("scanner"), {**VALUES, "SITE": site})
    except ProfileError:
        assert "\n" in site or profiles.TOKEN.search(site)
        return
    assert config["device"]["site"] == site
