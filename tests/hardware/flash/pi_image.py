"""A small Raspberry Pi OS-like disk image made in the test, without root: an MBR with a FAT32 boot partition (made
by pyfatfs) holding ``config.txt`` and ``cmdline.txt``, and a Linux root partition after it."""

from __future__ import annotations

import struct
import warnings
from pathlib import Path

from pyfatfs.PyFat import PyFat  # type: ignore[import-untyped]
from pyfatfs.PyFatFS import PyFatFS  # type: ignore[import-untyped]

SECTOR = 512
BOOT_FIRST_SECTOR = 8192
"""4 MiB, where Raspberry Pi OS starts its boot partition."""
BOOT_BYTES = 40 * 2**20
"""The smallest FAT32 pyfatfs makes is 32.5 MiB (Raspberry Pi OS's is 512 MiB)."""
ROOT_BYTES = 2 * 2**20
CMDLINE = b"console=serial0,115200 console=tty1 root=PARTUUID=abcd1234-02 rootfstype=ext4 fsck.repair=yes rootwait\n"
CONFIG = b"# For more options and information see\n# http://rptl.io/configtxt\ndtparam=audio=on\narm_64bit=1\n"


def mbr(entries: list[tuple[int, int, int]]) -> bytes:
    """A master boot record with ``(type, first sector, sectors)`` primary partitions."""
    sector = bytearray(SECTOR)
    struct.pack_into("<I", sector, 440, 0xABCD1234)  # disk identifier (PARTUUID prefix)
    for i, (kind, first, count) in enumerate(entries):
        struct.pack_into("<B3sB3sII", sector, 446 + 16 * i, 0, b"\xfe\xff\xff", kind, b"\xfe\xff\xff", first, count)
    sector[510:512] = b"\x55\xaa"
    return bytes(sector)


def make_image(path: Path, *, boot_type: int = 0x0C, files: dict[str, bytes] | None = None) -> Path:
    """Write the image (sparse) and return its path."""
    boot_sectors = BOOT_BYTES // SECTOR
    root_first = BOOT_FIRST_SECTOR + boot_sectors
    root_sectors = ROOT_BYTES // SECTOR
    with path.open("wb") as image:
        image.write(mbr([(boot_type, BOOT_FIRST_SECTOR, boot_sectors), (0x83, root_first, root_sectors)]))
    fat = PyFat(offset=BOOT_FIRST_SECTOR * SECTOR)
    fat.mkfs(str(path), PyFat.FAT_TYPE_FAT32, size=BOOT_BYTES, label="bootfs")
    fat.close()
    with path.open("r+b") as image:  # pyfatfs truncates after its partition: the root partition follows
        image.truncate((root_first + root_sectors) * SECTOR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fs = PyFatFS(str(path), offset=BOOT_FIRST_SECTOR * SECTOR)
    try:
        for name, data in {"config.txt": CONFIG, "cmdline.txt": CMDLINE, **(files or {})}.items():
            fs.writebytes(name, data)
    finally:
        fs.close()
    return path


def read_boot_files(path: Path) -> dict[str, bytes]:
    """Every file of the image's boot partition, by path (what a Pi would see)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fs = PyFatFS(str(path), offset=BOOT_FIRST_SECTOR * SECTOR, read_only=True)
    try:
        return {name.lstrip("/"): fs.readbytes(name) for name in fs.walk.files()}
    finally:
        fs.close()
