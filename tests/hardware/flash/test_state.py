"""The card's marker: written first, read back on every rerun, strict, and never two devices for one card."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hardware.flash.bootfs import DirectoryVolume
from hardware.flash.errors import CardStateError
from hardware.flash.state import (
    KEY_FILE,
    MARKER,
    PASSWORD_FILE,
    CardState,
    claim,
    identity,
    new_device_id,
    parse_state,
    read_state,
    record_step,
)
from protocol.topics import DEVICE_ID
from tests.hardware.flash.test_bootfs import boot_dir


@pytest.fixture
def volume(tmp_path: Path) -> DirectoryVolume:
    """A mounted boot partition."""
    return DirectoryVolume(boot_dir(tmp_path))


def test_a_new_card_gets_its_marker_before_anything_else(volume: DirectoryVolume) -> None:
    card, new = claim(volume, profile="scanner", site="SH-PD-1", grid_cell="G-7", device_id=None, now=100.0)
    assert new
    assert sorted(p.name for p in (volume.root / "gridpass").iterdir()) == ["flash-state.json"]
    assert read_state(volume) == card
    assert card.device_id.startswith("scanner-sh-pd-1-")


def test_a_rerun_is_the_same_device_with_the_same_key_and_password(volume: DirectoryVolume) -> None:
    card, _ = claim(volume, profile="scanner", site="SH-PD-1", grid_cell="", device_id=None, now=1.0)
    card, first = identity(volume, card)
    again, new = claim(volume, profile="scanner", site="SH-PD-1", grid_cell="", device_id=None, now=2.0)
    again, second = identity(volume, again)
    assert not new
    assert again.device_id == card.device_id
    assert second.public_key_pem == first.public_key_pem == again.public_key_pem
    assert second.password == first.password
    assert (volume.root / KEY_FILE).stat().st_mode & 0o777 == 0o600


def test_a_card_of_one_device_does_not_become_another(volume: DirectoryVolume) -> None:
    claim(volume, profile="scanner", site="SH-PD-1", grid_cell="", device_id="gate-1", now=1.0)
    with pytest.raises(CardStateError, match="already device gate-1"):
        claim(volume, profile="scanner", site="SH-PD-1", grid_cell="", device_id="gate-2", now=2.0)
    with pytest.raises(CardStateError, match="already device gate-1"):
        claim(volume, profile="camera", site="SH-PD-1", grid_cell="", device_id=None, now=2.0)


def test_a_key_made_but_never_recorded_is_made_again(volume: DirectoryVolume) -> None:
    card, _ = claim(volume, profile="scanner", site="S", grid_cell="", device_id="gate-1", now=1.0)
    volume.write(KEY_FILE, b"-----BEGIN PRIVATE KEY-----\nhalf")  # the crash: key half written, marker not updated
    card, made = identity(volume, card)
    assert read_state(volume) == card
    assert card.public_key_pem == made.public_key_pem


def test_a_booted_card_without_its_key_is_refused_not_given_a_new_one(volume: DirectoryVolume) -> None:
    card, _ = claim(volume, profile="scanner", site="S", grid_cell="", device_id="gate-1", now=1.0)
    card, _made = identity(volume, card)
    volume.remove(KEY_FILE)
    volume.remove(PASSWORD_FILE)
    with pytest.raises(CardStateError, match="no longer holds its key"):
        identity(volume, card)


def test_a_swapped_key_is_refused(volume: DirectoryVolume, tmp_path: Path) -> None:
    card, _ = claim(volume, profile="scanner", site="S", grid_cell="", device_id="gate-1", now=1.0)
    card, _made = identity(volume, card)
    other = DirectoryVolume(boot_dir(tmp_path / "other"))
    other_card, _ = claim(other, profile="scanner", site="S", grid_cell="", device_id="gate-2", now=1.0)
    identity(other, other_card)
    volume.write(KEY_FILE, other.read(KEY_FILE) or b"")
    with pytest.raises(CardStateError, match="not the one recorded"):
        identity(volume, card)


def test_a_damaged_marker_is_refused(volume: DirectoryVolume) -> None:
    volume.write(MARKER, b'{"format": 1, "device_id": "gate-')
    with pytest.raises(CardStateError, match="damaged"):
        read_state(volume)


def test_steps_are_recorded(volume: DirectoryVolume) -> None:
    card, _ = claim(volume, profile="camera", site="S", grid_cell="", device_id="cam-1", now=1.0)
    card = record_step(volume, card, "enrolment", "queued")
    assert read_state(volume) == card
    assert card.steps == {"enrolment": "queued"}
    with pytest.raises(ValueError, match="unknown step"):
        record_step(volume, card, "coffee", "made")


@given(st.text(min_size=0, max_size=80), st.sampled_from(["scanner", "camera", "handheld"]))
def test_made_ids_are_valid_device_ids(site: str, profile: str) -> None:
    assert DEVICE_ID.fullmatch(new_device_id(profile, site))


@given(st.binary(max_size=400))
def test_any_marker_bytes_parse_or_are_refused(data: bytes) -> None:
    try:
        card = parse_state(data)
    except ValueError as exc:
        refusal = str(exc)
    else:
        refusal = ""
        assert parse_state(card.to_json()) == card
    assert refusal or card


@given(
    st.from_regex(r"[a-z0-9-]{1,64}", fullmatch=True), st.text(min_size=1, max_size=64),
    st.dictionaries(st.sampled_from(["files", "enrolment", "board", "label"]), st.text(max_size=64)),
)  # fmt: skip
def test_markers_round_trip(device_id: str, site: str, steps: dict[str, str]) -> None:
    card = CardState(device_id, "scanner", site, "", 12.5, None, steps)
    assert parse_state(card.to_json()) == card
