"""A mounted boot partition: only a Pi boot partition is accepted; files are replaced whole."""

from __future__ import annotations

from pathlib import Path

import pytest

from hardware.flash.bootfs import DirectoryVolume
from hardware.flash.errors import FlashError, NotABootPartitionError


def boot_dir(tmp_path: Path) -> Path:
    """A folder that looks like a mounted Raspberry Pi OS boot partition."""
    root = tmp_path / "bootfs"
    root.mkdir(parents=True)
    (root / "config.txt").write_text("arm_64bit=1\n")
    (root / "cmdline.txt").write_text("console=tty1 root=PARTUUID=x-02 rootwait\n")
    return root


def test_a_boot_partition_takes_writes_and_keeps_private_files_private(tmp_path: Path) -> None:
    volume = DirectoryVolume(boot_dir(tmp_path))
    volume.write("gridpass/device.key.pem", b"secret", private=True)
    volume.write("gridpass/device.toml", b"a")
    volume.write("gridpass/device.toml", b"b")
    volume.close()
    folder = tmp_path / "bootfs" / "gridpass"
    assert (folder / "device.key.pem").stat().st_mode & 0o777 == 0o600
    assert (folder / "device.toml").read_bytes() == b"b"
    assert sorted(p.name for p in folder.iterdir()) == ["device.key.pem", "device.toml"]
    assert volume.read("gridpass/absent") is None


def test_a_folder_that_is_not_a_boot_partition_is_refused(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.txt").write_text("x")
    with pytest.raises(NotABootPartitionError, match=r"no cmdline\.txt: not a Raspberry Pi OS boot partition"):
        DirectoryVolume(home)
    assert sorted(p.name for p in home.iterdir()) == ["config.txt"]


def test_a_missing_path_and_a_plain_file_are_refused(tmp_path: Path) -> None:
    with pytest.raises(NotABootPartitionError, match="cannot open"):
        DirectoryVolume(tmp_path / "nowhere")
    with pytest.raises(NotABootPartitionError, match="neither a folder"):
        DirectoryVolume(Path("/dev/null"))


def test_writes_outside_the_partition_are_refused(tmp_path: Path) -> None:
    volume = DirectoryVolume(boot_dir(tmp_path))
    with pytest.raises(FlashError, match="outside"):
        volume.write("../escape", b"x")
    assert not (tmp_path / "escape").exists()
