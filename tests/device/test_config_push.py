"""Pushed configuration on the terminal: only pushable keys, validated like the file, newer only, kept on disk,
laid over the terminal's own file again at start, and ignored (with a problem) when it no longer fits."""

from __future__ import annotations

from pathlib import Path

import pytest

from device.config import DeviceConfig, validate
from device.config_push import PUSHED_FILE, ConfigPushError, load_pushed, overlay, take
from protocol.device_config import make_delegation, seal_device_config
from protocol.keys import Alg, generate_private_key

ROOT = generate_private_key(Alg.EDDSA)
HUB_KEY = generate_private_key(Alg.EDDSA)
NOW = 1_800_000_000
DELEGATION = make_delegation(ROOT, "hub-sh", HUB_KEY.public_key(), nbf=0, exp=NOW * 2)


def base(tmp_path: Path) -> DeviceConfig:
    return validate(
        {
            "device": {"id": "scanner-01", "profile": "scanner", "site": "SH-PD-1", "data_dir": str(tmp_path)},
            "camera": {"kind": "synthetic"},
            "signal": {"indicator": "console"},
            "lists": {"root_key": str(tmp_path / "root.pem"), "list_id": "CN-SH-PD"},
        }
    )


def push(version: int, settings: dict[str, dict[str, object]], device: str = "scanner-01") -> bytes:
    return seal_device_config(HUB_KEY, DELEGATION, device=device, version=version, issued=NOW, settings=settings)


def test_overlay_sets_pushable_keys_and_validates(tmp_path: Path) -> None:
    config = overlay(base(tmp_path), {"scan": {"hold_off_s": 7.5}, "device": {"site": "SH-PD-9"}})
    assert config.scan.hold_off_s == 7.5
    assert config.device.site == "SH-PD-9"
    assert config.device.id == "scanner-01"


@pytest.mark.parametrize(
    "settings",
    [
        {"device": {"id": "scanner-99"}},
        {"device": {"data_dir": "/tmp"}},
        {"lists": {"root_key": "/tmp/evil.pem"}},
        {"sync": {"broker_host": "evil.example"}},
        {"signal": {"indicator": "gpio"}},
        {"device.nested": {"site": "x"}},
    ],
)
def test_identity_keys_and_hub_address_are_not_pushable(tmp_path: Path, settings: dict[str, dict[str, object]]) -> None:
    with pytest.raises(ConfigPushError) as caught:
        overlay(base(tmp_path), settings)
    assert caught.value.reason == "not_pushable"


def test_an_invalid_value_is_refused_with_its_key_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigPushError) as caught:
        overlay(base(tmp_path), {"scan": {"hold_off_s": -1}})
    assert caught.value.reason == "invalid"
    assert "scan.hold_off_s" in caught.value.detail


def test_take_keeps_only_newer_pushes(tmp_path: Path) -> None:
    config = base(tmp_path)
    pushed = take(push(2, {"scan": {"hold_off_s": 4.0}}), config, ROOT.public_key(), held_version=1, data_dir=tmp_path)
    assert pushed.doc.version == 2
    assert pushed.effective.scan.hold_off_s == 4.0
    assert (tmp_path / PUSHED_FILE).read_bytes() == push(2, {"scan": {"hold_off_s": 4.0}})
    with pytest.raises(ConfigPushError) as caught:
        take(push(2, {"scan": {"hold_off_s": 9.0}}), config, ROOT.public_key(), held_version=2, data_dir=tmp_path)
    assert caught.value.reason == "not_newer"


def test_a_push_for_another_device_or_unsigned_is_refused_and_nothing_is_kept(tmp_path: Path) -> None:
    config = base(tmp_path)
    for payload, reason in ((push(5, {}, device="scanner-02"), "wrong_device"), (b"\xa1av\x01", "bad_schema")):
        with pytest.raises(ConfigPushError) as caught:
            take(payload, config, ROOT.public_key(), held_version=0, data_dir=tmp_path)
        assert caught.value.reason == reason
    assert not (tmp_path / PUSHED_FILE).exists()


def test_the_kept_push_is_laid_over_the_file_at_start(tmp_path: Path) -> None:
    config = base(tmp_path)
    (tmp_path / PUSHED_FILE).write_bytes(push(4, {"store": {"max_age_days": 9}}))
    problems: list[str] = []
    pushed = load_pushed(config, ROOT.public_key(), problems)
    assert pushed is not None
    assert pushed.doc.version == 4
    assert pushed.effective.store.max_age_days == 9
    assert problems == []


def test_a_kept_push_that_no_longer_verifies_is_ignored_with_a_problem(tmp_path: Path) -> None:
    config = base(tmp_path)
    (tmp_path / PUSHED_FILE).write_bytes(push(4, {"store": {"max_age_days": 9}}))
    problems: list[str] = []
    assert load_pushed(config, generate_private_key(Alg.EDDSA).public_key(), problems) is None
    assert problems and "push it again" in problems[0]
    assert load_pushed(base(tmp_path / "empty"), ROOT.public_key(), []) is None
