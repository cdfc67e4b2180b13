"""A Raspberry Pi OS image file (``.img``): its MBR partition table, the FAT boot partition in it, and that partition
opened with pyfatfs at its offset, so that the image is edited without root, loop devices or mounts.

Parsing is pure (:func:`parse_mbr`, :func:`check_fat_boot_sector`) and bounded: an image is refused with a plain
message when it has no MBR, when its boot partition is not FAT, or when the file is shorter than its partition table
says (a truncated download or copy), before anything is written.
"""

from __future__ import annotations

import logging
import struct
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hardware.flash.errors import NotABootPartitionError
from hardware.flash.volume import BOOT_MARKERS, NEW_SUFFIX

log = logging.getLogger(__name__)

SECTOR_BYTES = 512
"""MBR logical block size (every Raspberry Pi OS image uses 512-byte sectors)."""
MBR_SIGNATURE = b"\x55\xaa"
PARTITION_TABLE_OFFSET = 446
PARTITION_ENTRY_BYTES = 16
PARTITION_ENTRIES = 4
FAT_PARTITION_TYPES = frozenset({0x01, 0x04, 0x06, 0x0B, 0x0C, 0x0E})
"""FAT12/16/32, CHS and LBA variants; Raspberry Pi OS uses 0x0C (FAT32 LBA)."""
GPT_PROTECTIVE_TYPE = 0xEE
VALID_SECTOR_SIZES = frozenset({512, 1024, 2048, 4096})
FAT32_FS_TYPE_OFFSET = 82
FAT16_FS_TYPE_OFFSET = 54


@dataclass(frozen=True, slots=True)
class Partition:
    """One primary partition of an MBR table."""

    index: int
    """1-based, as ``fdisk`` numbers them."""
    type: int
    first_sector: int
    sectors: int

    @property
    def offset(self) -> int:
        """Where it starts, in bytes from the start of the image."""
        return self.first_sector * SECTOR_BYTES

    @property
    def end(self) -> int:
        """Where it ends, in bytes (exclusive)."""
        return (self.first_sector + self.sectors) * SECTOR_BYTES

    @property
    def is_fat(self) -> bool:
        """Whether its type says FAT."""
        return self.type in FAT_PARTITION_TYPES


def parse_mbr(sector: bytes) -> list[Partition]:
    """The used primary partitions of an MBR (first sector of the image); refuses anything that is not one."""
    if len(sector) < SECTOR_BYTES:
        raise NotABootPartitionError("the file is shorter than one sector: not a disk image")
    if sector[510:512] != MBR_SIGNATURE:
        raise NotABootPartitionError("no partition table (MBR signature missing): not a Raspberry Pi OS image")
    partitions = []
    for i in range(PARTITION_ENTRIES):
        start = PARTITION_TABLE_OFFSET + i * PARTITION_ENTRY_BYTES
        entry = sector[start : start + PARTITION_ENTRY_BYTES]
        status, kind = entry[0], entry[4]
        first, count = struct.unpack_from("<II", entry, 8)
        if kind == 0 or count == 0:
            continue
        if status not in (0x00, 0x80):
            raise NotABootPartitionError(f"partition {i + 1} has an invalid status byte: not an MBR partition table")
        if kind == GPT_PROTECTIVE_TYPE:
            raise NotABootPartitionError("a GPT disk image: Raspberry Pi OS images use an MBR partition table")
        partitions.append(Partition(i + 1, kind, first, count))
    if not partitions:
        raise NotABootPartitionError("the partition table is empty: not a Raspberry Pi OS image")
    return partitions


def boot_partition(partitions: list[Partition], image_bytes: int) -> Partition:
    """The first partition (Raspberry Pi OS's bootfs); refuses a non-FAT one and a truncated image."""
    ends = max(partition.end for partition in partitions)
    if image_bytes < ends:
        raise NotABootPartitionError(
            f"the image is truncated: {image_bytes} bytes, its partition table needs {ends}; download or copy it again"
        )
    first = min(partitions, key=lambda partition: partition.first_sector)
    if not first.is_fat:
        raise NotABootPartitionError(
            f"partition {first.index} is of type 0x{first.type:02x}, not FAT: not a Raspberry Pi OS boot partition"
        )
    return first


def check_fat_boot_sector(sector: bytes, partition: Partition) -> None:
    """Refuse a partition whose first sector is not a FAT boot sector that fits the partition."""
    if len(sector) < SECTOR_BYTES or sector[510:512] != MBR_SIGNATURE:
        raise NotABootPartitionError(f"partition {partition.index} holds no FAT file system (no boot sector)")
    bytes_per_sector, sectors_per_cluster = struct.unpack_from("<HB", sector, 11)
    fs_types = (sector[FAT32_FS_TYPE_OFFSET : FAT32_FS_TYPE_OFFSET + 8], sector[FAT16_FS_TYPE_OFFSET:62])
    if (
        bytes_per_sector not in VALID_SECTOR_SIZES
        or sectors_per_cluster == 0
        or not any(kind.startswith(b"FAT") for kind in fs_types)
    ):
        raise NotABootPartitionError(f"partition {partition.index} holds no FAT file system")
    total16 = struct.unpack_from("<H", sector, 19)[0]
    total32 = struct.unpack_from("<I", sector, 32)[0]
    fs_bytes = (total16 or total32) * bytes_per_sector
    if fs_bytes > partition.sectors * SECTOR_BYTES:
        raise NotABootPartitionError(
            f"the FAT file system of partition {partition.index} is larger than the partition: the image is damaged"
        )


def locate_boot_partition(path: Path) -> Partition:
    """Read the image's partition table and check its boot partition, without writing anything."""
    try:
        size = path.stat().st_size
        with path.open("rb") as image:
            partitions = parse_mbr(image.read(SECTOR_BYTES))
            partition = boot_partition(partitions, size)
            image.seek(partition.offset)
            check_fat_boot_sector(image.read(SECTOR_BYTES), partition)
    except OSError as exc:
        raise NotABootPartitionError(f"cannot read {path}: {exc.strerror}") from exc
    return partition


class FatImageVolume:
    """The boot partition of an image file, through pyfatfs (no mount, no root)."""

    def __init__(self, path: Path) -> None:
        self.partition = locate_boot_partition(path)
        self.description = f"{path} (partition {self.partition.index})"
        from pyfatfs.PyFatFS import PyFatFS  # type: ignore[import-untyped]  # noqa: PLC0415 - only for images

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "not cleanly unmounted": a card pulled without eject, still usable
                self._fs: Any = PyFatFS(str(path), offset=self.partition.offset, preserve_case=True, utc=True)
        except Exception as exc:  # pyfatfs raises its own and plain errors alike on a damaged file system
            raise NotABootPartitionError(f"{self.description}: the FAT file system cannot be read ({exc})") from exc
        missing = [name for name in BOOT_MARKERS if not self._fs.exists(name)]
        if missing:
            self._fs.close()
            raise NotABootPartitionError(
                f"{self.description} has no {' or '.join(missing)}: not a Raspberry Pi OS boot partition"
            )

    def read(self, path: str) -> bytes | None:
        """The file's bytes, or None."""
        if not self._fs.exists(path):
            return None
        data: bytes = self._fs.readbytes(path)
        return data

    def exists(self, path: str) -> bool:
        """Whether the file exists."""
        return bool(self._fs.exists(path))

    def write(self, path: str, data: bytes, *, private: bool = False) -> None:  # noqa: ARG002 - FAT has no modes
        """Replace ``path`` via ``path.new`` (see ``volume``)."""
        parent = path.rpartition("/")[0]
        if parent:
            self._fs.makedirs(parent, recreate=True)
        new = path + NEW_SUFFIX
        self._fs.writebytes(new, data)
        if self._fs.exists(path):
            self._fs.remove(path)
        self._fs.writebytes(path, data)
        self._fs.remove(new)

    def remove(self, path: str) -> None:
        """Remove a file if it exists."""
        if self._fs.exists(path):
            self._fs.remove(path)

    def close(self) -> None:
        """Flush the FAT and mark the file system clean."""
        self._fs.close()
