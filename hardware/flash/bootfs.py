"""A mounted boot partition (e.g. ``/media/$USER/bootfs``): the same writes as into an image, through the OS.

It is accepted only when it is a Raspberry Pi OS boot partition (``config.txt`` and ``cmdline.txt`` at its top), so
that pointing the tool at a wrong folder or another disk writes nothing. Files are replaced by renaming a complete
temporary file over them, then flushed.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

from hardware.flash.errors import FlashError, NotABootPartitionError
from hardware.flash.volume import BOOT_MARKERS, NEW_SUFFIX

PRIVATE_MODE = 0o600
PUBLIC_MODE = 0o644


class DirectoryVolume:
    """A mounted boot partition."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.description = str(root)
        try:
            mode = root.stat().st_mode
        except OSError as exc:
            raise NotABootPartitionError(f"cannot open {root}: {exc.strerror}") from exc
        if stat.S_ISBLK(mode):
            raise NotABootPartitionError(
                f"{root} is a disk device: mount its boot partition and give that folder, or give an image file"
            )
        if not stat.S_ISDIR(mode):
            raise NotABootPartitionError(f"{root} is neither a folder nor a disk image")
        missing = [name for name in BOOT_MARKERS if not (root / name).is_file()]
        if missing:
            raise NotABootPartitionError(
                f"{root} has no {' or '.join(missing)}: not a Raspberry Pi OS boot partition (is the SD card mounted?)"
            )

    def _path(self, path: str) -> Path:
        target = (self.root / path).resolve()
        if not target.is_relative_to(self.root.resolve()):
            raise FlashError(f"refusing to write outside the boot partition: {path}")
        return target

    def read(self, path: str) -> bytes | None:
        """The file's bytes, or None."""
        try:
            return self._path(path).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise FlashError(f"cannot read {path} on {self.root}: {exc.strerror}") from exc

    def exists(self, path: str) -> bool:
        """Whether the file exists."""
        return self._path(path).exists()

    def write(self, path: str, data: bytes, *, private: bool = False) -> None:
        """Write ``path.new``, flush it, rename it over ``path``."""
        target = self._path(path)
        temporary = target.with_name(target.name + NEW_SUFFIX)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_MODE if private else PUBLIC_MODE)
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            with contextlib.suppress(OSError):  # FAT mounts refuse chmod; the mount options decide there
                temporary.chmod(PRIVATE_MODE if private else PUBLIC_MODE)
            temporary.replace(target)
        except OSError as exc:
            raise FlashError(f"cannot write {path} on {self.root}: {exc.strerror} (card full or read-only?)") from exc

    def remove(self, path: str) -> None:
        """Remove a file if it exists."""
        try:
            self._path(path).unlink(missing_ok=True)
        except OSError as exc:
            raise FlashError(f"cannot remove {path} on {self.root}: {exc.strerror}") from exc

    def close(self) -> None:
        """Flush what was written to the card."""
        os.sync()
