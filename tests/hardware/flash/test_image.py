"""The image file: partition table, boot partition, refusals, and writes read back."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hardware.flash.errors import NotABootPartitionError
from hardware.flash.image import (
    SECTOR_BYTES,
    FatImageVolume,
    Partition,
    boot_partition,
    check_fat_boot_sector,
    locate_boot_partition,
    parse_mbr,
)
from hardware.flash.volume import NEW_SUFFIX, read_replaced
from tests.hardware.flash.pi_image import BOOT_FIRST_SECTOR, CMDLINE, SECTOR, make_image, mbr, read_boot_files


@pytest.fixture
def image(tmp_path: Path) -> Path:
    """A fresh Pi OS-like image."""
    return make_image(tmp_path / "pios.img")


def test_the_boot_partition_is_found_at_its_offset(image: Path) -> None:
    partition = locate_boot_partition(image)
    assert (partition.index, partition.type, partition.offset) == (1, 0x0C, BOOT_FIRST_SECTOR * SECTOR)


def test_files_written_are_read_back_and_the_rest_of_the_image_is_untouched(image: Path) -> None:
    tail_before = image.read_bytes()[-SECTOR * 16 :]
    volume = FatImageVolume(image)
    volume.write("gridpass/device.toml", b"[device]\n")
    volume.write("gridpass/device.toml", b"[device]\nid = 'x'\n")
    volume.write("gridpass/device.key.pem", b"k" * 5000, private=True)
    volume.remove("gridpass/absent")
    volume.close()
    files = read_boot_files(image)
    assert files["gridpass/device.toml"] == b"[device]\nid = 'x'\n"
    assert files["gridpass/device.key.pem"] == b"k" * 5000
    assert files["cmdline.txt"] == CMDLINE
    assert not any(name.endswith(NEW_SUFFIX) for name in files)
    assert image.read_bytes()[-SECTOR * 16 :] == tail_before


def test_an_interrupted_replacement_is_read_from_the_complete_copy(image: Path) -> None:
    volume = FatImageVolume(image)
    volume.write("gridpass/state.json", b'{"v": 1}')
    raw = volume._fs  # the steps of a replacement, stopped where a crash would stop them
    raw.writebytes("gridpass/state.json" + NEW_SUFFIX, b'{"v": 2}')  # the new copy complete ...
    raw.writebytes("gridpass/state.json", b'{"v": ')  # ... the old name half rewritten
    assert read_replaced(volume, "gridpass/state.json", lambda data: data.endswith(b"}")) == b'{"v": 2}'
    volume.remove("gridpass/state.json")
    assert read_replaced(volume, "gridpass/state.json", lambda data: data.endswith(b"}")) == b'{"v": 2}'
    volume.close()


def test_a_truncated_image_is_refused_before_anything_is_written(image: Path) -> None:
    with image.open("r+b") as file:
        file.truncate(image.stat().st_size - SECTOR)
    before = image.read_bytes()
    with pytest.raises(NotABootPartitionError, match="truncated"):
        FatImageVolume(image)
    assert image.read_bytes() == before


def test_an_image_cut_inside_its_boot_partition_is_refused(image: Path) -> None:
    with image.open("r+b") as file:
        file.truncate(BOOT_FIRST_SECTOR * SECTOR + 4096)
    with pytest.raises(NotABootPartitionError, match="truncated"):
        FatImageVolume(image)


def test_a_file_that_is_not_a_disk_image_is_refused(tmp_path: Path) -> None:
    photo = tmp_path / "holiday.jpg"
    photo.write_bytes(b"\xff\xd8\xff\xe0" + bytes(4000))
    with pytest.raises(NotABootPartitionError, match="no partition table"):
        FatImageVolume(photo)
    tiny = tmp_path / "tiny.img"
    tiny.write_bytes(b"\x55\xaa")
    with pytest.raises(NotABootPartitionError, match="shorter than one sector"):
        FatImageVolume(tiny)


def test_a_linux_first_partition_is_refused(tmp_path: Path) -> None:
    with pytest.raises(NotABootPartitionError, match="not FAT"):
        FatImageVolume(make_image(tmp_path / "odd.img", boot_type=0x83))


def test_a_fat_partition_without_the_pi_boot_files_is_refused(tmp_path: Path) -> None:
    image = make_image(tmp_path / "usb-stick.img")
    volume = FatImageVolume(image)
    volume.remove("cmdline.txt")
    volume.close()
    with pytest.raises(NotABootPartitionError, match=r"no cmdline\.txt"):
        FatImageVolume(image)


def test_a_partition_without_a_fat_file_system_is_refused(image: Path) -> None:
    with image.open("r+b") as file:
        file.seek(BOOT_FIRST_SECTOR * SECTOR)
        file.write(bytes(SECTOR))
    with pytest.raises(NotABootPartitionError, match="no FAT file system"):
        FatImageVolume(image)


def test_a_gpt_disk_is_refused() -> None:
    with pytest.raises(NotABootPartitionError, match="GPT"):
        parse_mbr(mbr([(0xEE, 1, 1000)]))


def test_an_empty_table_is_refused() -> None:
    with pytest.raises(NotABootPartitionError, match="empty"):
        parse_mbr(mbr([]))


@given(st.binary(min_size=0, max_size=SECTOR_BYTES + 8))
def test_any_first_sector_parses_or_is_refused_plainly(sector: bytes) -> None:
    try:
        partitions = parse_mbr(sector)
    except NotABootPartitionError as exc:
        refusal = str(exc)
    else:
        assert 1 <= len(partitions) <= 4
        try:
            boot_partition(partitions, 2**40)
        except NotABootPartitionError as exc:
            refusal = str(exc) if "not FAT" in str(exc) else ""
        else:
            refusal = "accepted"
    assert refusal


@given(st.binary(min_size=SECTOR_BYTES, max_size=SECTOR_BYTES), st.integers(min_value=1, max_value=2**32 - 1))
def test_any_boot_sector_is_accepted_or_refused_plainly(sector: bytes, sectors: int) -> None:
    try:
        check_fat_boot_sector(sector, Partition(1, 0x0C, 8192, sectors))
    except NotABootPartitionError as exc:
        refusal = str(exc)
    else:
        refusal = "partition 1 accepted"
    assert "partition 1" in refusal
