"""Helpers for the list store tests: updates built directly (no signature needed), rid pools, small file sizes."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import numpy as np
import pytest

from device.lists import revocation_store, ridfile, version
from device.lists.revocation_store import RevocationStore, RevocationVersion
from protocol.revocation import RevocationUpdate

LIST_ID = "CN-SH-PD"
EDGE_RIDS = [
    bytes(16),
    bytes(15) + b"\x01",
    b"\x01" + bytes(15),
    b"a" + bytes(15),
    b"a" + bytes(14) + b"\x01",
    bytes(8) + b"\xff" * 8,
    b"\xff" * 8 + bytes(8),
    b"\xff" * 16,
    b"\x80" + bytes(15),
    b"\x7f" + b"\xff" * 15,
]
"""Rids that trip comparisons dropping trailing zero bytes, signed words, or the first and last bucket."""
POOL = EDGE_RIDS + [hashlib.sha256(bytes([i])).digest()[:16] for i in range(22)]


def update(
    seq: int, base: int, add: Iterable[bytes] = (), delete: Iterable[bytes] = (), *, list_id: str = LIST_ID
) -> RevocationUpdate:
    """A verified-looking update (the store takes parsed updates; signatures are tested in protocol/)."""
    return RevocationUpdate(list_id, seq, base, 1_000 + seq, b"".join(sorted(set(add))), b"".join(sorted(set(delete))))


def random_rids(count: int, seed: int) -> bytes:
    """``count`` distinct random rids, sorted, concatenated (sorting 64-bit words is much faster than S16)."""
    rng = np.random.default_rng(seed)
    hi = np.sort(rng.integers(0, 2**64 - 1, size=count, dtype=np.uint64, endpoint=True))
    hi = hi[np.concatenate(([True], hi[1:] != hi[:-1]))]  # (np.unique hashes first: far slower at this size)
    lo = rng.integers(0, 2**64 - 1, size=len(hi), dtype=np.uint64, endpoint=True)
    words = np.empty((len(hi), 2), dtype=">u8")
    words[:, 0], words[:, 1] = hi, lo
    return words.tobytes()


def content(version: RevocationVersion) -> set[bytes]:
    """Every rid of a version, read the way a merge reads it."""
    data = b"".join(chunk.tobytes() for chunk in version.chunks())
    return {data[i : i + 16] for i in range(0, len(data), 16)}


def answers(store: RevocationStore | RevocationVersion, rids: Iterable[bytes]) -> set[bytes]:
    """The rids a store says are revoked, one lookup at a time."""
    return {rid for rid in rids if rid in store}


@contextmanager
def tiny_files() -> Iterator[None]:
    """Buckets of ~2 rids, chunks of 3 and batch reads of 2 rids, so that small tests cross every boundary."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ridfile, "BUCKET_TARGET", 2)
        mp.setattr(ridfile, "CHUNK_ENTRIES", 3)
        mp.setattr(ridfile, "BATCH_READ_BYTES", 32)
        mp.setattr(revocation_store, "CHUNK_ENTRIES", 3)
        mp.setattr(version, "CHUNK_ENTRIES", 3)
        yield
