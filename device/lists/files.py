"""Small file helpers for the list stores: durable writes, directory fsync, bounded reads and advisory locks.

A write is durable when the file's data and its directory entry are both on the SD card: ``fsync`` the file,
then ``fsync`` the directory. A replacement is atomic when it goes through a temporary file and ``os.replace``,
so a crash (or ``kill -9``) leaves either the old file or the new one, never a mix.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def fsync_dir(directory: Path) -> None:
    """Make the directory's entries (new files, renames, unlinks) durable."""
    dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data``: a crash leaves either the old content or the new, never a mix."""
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    tmp.replace(path)
    fsync_dir(path.parent)


def read_bounded(path: Path, max_bytes: int) -> bytes:
    """The whole file, refusing (``ValueError``) one larger than ``max_bytes`` without reading it all."""
    with path.open("rb") as source:
        data = source.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ValueError(f"{path} is larger than {max_bytes} bytes")
    return data


@contextmanager
def file_lock(path: Path, *, blocking: bool = True) -> Iterator[bool]:
    """An exclusive ``flock`` on ``path`` (created if missing) for the ``with`` block; yields whether it was taken.

    Each call opens its own descriptor, so the lock excludes other threads of this process as well as other
    processes. With ``blocking=False`` a lock held elsewhere yields False at once instead of waiting.
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)  # closing the descriptor releases the lock
