"""A boot partition to write to: the small file interface that both a mounted directory (``bootfs``) and a FAT
partition inside an image file (``image``) offer.

Paths are relative POSIX paths (``gridpass/device.toml``). :meth:`BootVolume.write` replaces a file as one step
as far as the file system allows: a mounted directory renames a complete temporary file over the old one; FAT
(pyfatfs has no rename) writes ``NAME.new`` in full, removes ``NAME``, writes ``NAME`` again and removes ``NAME.new``;
:func:`read_replaced` takes the first of ``NAME`` and ``NAME.new`` that passes the caller's check, so that a crash at
any point leaves either the old content or the new one readable, never only half of one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

NEW_SUFFIX = ".new"
BOOT_MARKERS = ("config.txt", "cmdline.txt")
"""Files every Raspberry Pi OS boot partition holds (the firmware's config and the kernel command line)."""


class BootVolume(Protocol):
    """A boot partition, open for reading and writing."""

    description: str
    """What it is, for messages (a path, or an image and its partition)."""

    def read(self, path: str) -> bytes | None:
        """The file's bytes, or None when it does not exist."""

    def write(self, path: str, data: bytes, *, private: bool = False) -> None:
        """Create or replace a file (parent folders made); ``private``: owner-only where the file system has modes."""

    def remove(self, path: str) -> None:
        """Remove a file if it exists."""

    def exists(self, path: str) -> bool:
        """Whether the file exists."""

    def close(self) -> None:
        """Flush and release the partition."""


def read_replaced(volume: BootVolume, path: str, valid: Callable[[bytes], bool]) -> bytes | None:
    """The bytes at ``path`` if ``valid``, else those of an interrupted replacement ``path.new`` if valid, else None."""
    for candidate in (path, path + NEW_SUFFIX):
        data = volume.read(candidate)
        if data is not None and valid(data):
            return data
    return None
