"""The terminal's key rotation files: what each step writes, and that a crash after any step leaves a state that
works (the pending key is sent again, or a finished rotation's leftover is removed, or the old key stays)."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from device.commands import wipe
from device.keys_rotation import KeyRotation, RotationFileError, write_secret
from protocol.identity import open_rotation
from protocol.keys import kid_of_public_key, load_private_key_pem, private_key_pem
from tests.device.test_commands import config

DEVICE = "scanner-01"


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "device.key.pem"
    write_secret(path, private_key_pem(ed25519.Ed25519PrivateKey.generate()))
    return path


def _current(key_file: Path) -> ed25519.Ed25519PrivateKey:
    key = load_private_key_pem(key_file.read_bytes())
    assert isinstance(key, ed25519.Ed25519PrivateKey)
    return key


def _kid(key: ed25519.Ed25519PrivateKey) -> bytes:
    return kid_of_public_key(key.public_key())


def test_begin_writes_the_pending_key_owner_only_and_signs_with_the_current_key(key_file: Path) -> None:
    old = _current(key_file)
    rotation = KeyRotation.load(key_file, old, DEVICE)
    message = rotation.begin("cmd-1")
    assert rotation.pending is not None
    assert stat.S_IMODE(rotation.pending_file.stat().st_mode) == 0o600
    assert json.loads(rotation.pending_file.read_bytes())["command"] == "cmd-1"
    verified = open_rotation(message, old.public_key(), device=DEVICE)
    assert kid_of_public_key(verified.new_key) == rotation.pending.kid != _kid(old)
    assert _kid(_current(key_file)) == _kid(old)  # the key file is untouched


def test_promote_makes_the_pending_key_current_on_disk(key_file: Path) -> None:
    rotation = KeyRotation.load(key_file, _current(key_file), DEVICE)
    rotation.begin("cmd-1")
    assert rotation.pending is not None
    new_kid = rotation.pending.kid
    assert not rotation.promote(b"\x00" * 8)  # an answer about another key changes nothing
    assert rotation.promote(new_kid)
    assert _kid(_current(key_file)) == new_kid == _kid(rotation.current)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert not rotation.pending_file.exists()
    assert not rotation.promote(new_kid)  # a repeated answer: nothing pending any more


def test_a_crash_after_begin_sends_the_same_rotation_again(key_file: Path) -> None:
    old = _current(key_file)
    first = KeyRotation.load(key_file, old, DEVICE)
    message = first.begin("cmd-1")
    restarted = KeyRotation.load(key_file, _current(key_file), DEVICE)
    assert restarted.pending is not None and restarted.pending.command == "cmd-1"
    assert restarted.message() == message


def test_a_crash_between_the_rename_and_removing_the_pending_file_finishes_on_restart(key_file: Path) -> None:
    rotation = KeyRotation.load(key_file, _current(key_file), DEVICE)
    rotation.begin("cmd-1")
    assert rotation.pending is not None
    write_secret(key_file, private_key_pem(rotation.pending.key))  # the rename happened; the unlink did not
    restarted = KeyRotation.load(key_file, _current(key_file), DEVICE)
    assert restarted.pending is None
    assert not restarted.pending_file.exists()
    assert _kid(restarted.current) == rotation.pending.kid


def test_a_second_command_while_pending_keeps_the_key_and_binds_the_new_command(key_file: Path) -> None:
    rotation = KeyRotation.load(key_file, _current(key_file), DEVICE)
    rotation.begin("cmd-1")
    assert rotation.pending is not None
    kid = rotation.pending.kid
    message = rotation.begin("cmd-2")
    assert rotation.pending.kid == kid
    assert open_rotation(message, rotation.current.public_key(), device=DEVICE).command == "cmd-2"


def test_abandon_drops_the_pending_key_and_keeps_the_current_one(key_file: Path) -> None:
    old = _current(key_file)
    rotation = KeyRotation.load(key_file, old, DEVICE)
    rotation.begin("cmd-1")
    assert rotation.pending is not None
    assert not rotation.abandon(b"\x01" * 8)
    assert rotation.abandon(rotation.pending.kid)
    assert not rotation.pending_file.exists()
    assert _kid(_current(key_file)) == _kid(old)
    with pytest.raises(RotationFileError):  # nothing is pending any more
        rotation.message()


@pytest.mark.parametrize(
    "content",
    [b"not json", b'{"v": 2}', b'{"v": 1, "command": "c", "key": "nope"}', b"\xff\xfe", b"{" * 5000],
)
def test_a_damaged_pending_file_is_set_aside_and_the_current_key_stays(key_file: Path, content: bytes) -> None:
    pending = key_file.with_name(key_file.name + ".rotation")
    pending.write_bytes(content)
    rotation = KeyRotation.load(key_file, _current(key_file), DEVICE)
    assert rotation.pending is None
    assert not pending.exists()
    assert pending.with_name(pending.name + ".damaged").read_bytes() == content


def test_a_pending_file_that_cannot_be_written_does_not_begin(tmp_path: Path) -> None:
    key_file = tmp_path / "missing-dir" / "device.key.pem"
    rotation = KeyRotation(key_file, ed25519.Ed25519PrivateKey.generate(), DEVICE)
    with pytest.raises(RotationFileError):
        rotation.begin("cmd-1")
    assert rotation.pending is None


def test_a_wipe_removes_a_pending_key_too(tmp_path: Path) -> None:
    loaded = config(tmp_path)
    assert loaded.sync is not None
    write_secret(loaded.sync.key_file, private_key_pem(ed25519.Ed25519PrivateKey.generate()))
    rotation = KeyRotation.load(loaded.sync.key_file, _current(loaded.sync.key_file), DEVICE)
    rotation.begin("cmd-1")
    assert rotation.pending_file.exists()
    removed = wipe(loaded)
    assert rotation.pending_file in removed
    assert not rotation.pending_file.exists() and not loaded.sync.key_file.exists()
