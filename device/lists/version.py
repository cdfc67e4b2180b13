"""One version of a revocation list as the store holds it: a base file, minus ``dels``, plus ``adds``.

``adds`` (held, not in the base) and ``dels`` (in the base, not held) fold every segment applied since the base,
sorted, 16 bytes a rid. A version never changes; the store swaps which one is current.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from device.lists.errors import StoreCorruptError, StoreError
from device.lists.manifest import Manifest
from device.lists.ridfile import CHUNK_ENTRIES, RID_DTYPE, BaseFile, Rids, rids_of
from protocol.revocation import RID_BYTES


@dataclass(frozen=True, slots=True)
class SortedRids:
    """Sorted rids as bytes (exact comparisons) and as an S16 array (search, set operations)."""

    data: bytes
    arr: Rids

    @classmethod
    def of(cls, arr: Rids) -> SortedRids:
        data = np.ascontiguousarray(arr).tobytes()
        return cls(data, rids_of(data))

    def __len__(self) -> int:
        return len(self.data) // RID_BYTES

    def __contains__(self, rid: bytes) -> bool:
        if not self.data:
            return False
        at = int(self.arr.searchsorted(rid)) * RID_BYTES
        return self.data[at : at + RID_BYTES] == rid

    def isin(self, queries: Rids) -> npt.NDArray[np.bool_]:
        return _isin(queries, self.arr)


NO_RIDS = SortedRids.of(np.empty(0, dtype=RID_DTYPE))


@dataclass(frozen=True, slots=True, eq=False)
class RevocationVersion:
    """One version of one list, immutable: the base, minus ``dels``, plus ``adds``. A :class:`RevocationView`."""

    list_id: str
    seq: int
    ts: int
    base: BaseFile | None
    adds: SortedRids = NO_RIDS
    dels: SortedRids = NO_RIDS
    manifest: Manifest | None = None

    def __len__(self) -> int:
        return (self.base.count if self.base else 0) - len(self.dels) + len(self.adds)

    def __contains__(self, rid: object) -> bool:
        if not isinstance(rid, bytes) or len(rid) != RID_BYTES:
            return False
        try:
            if self.base is not None and rid in self.base:
                return rid not in self.dels
        except OSError as exc:
            raise StoreError(f"cannot read the revocation list ({exc.strerror}): treat it as stale") from exc
        return rid in self.adds

    def contains_many(self, rids: bytes) -> npt.NDArray[np.bool_]:
        """Membership of concatenated 16-byte rids, in their order (sorted and read bucket by bucket)."""
        queries = rids_of(rids)
        order = np.argsort(queries, kind="stable")
        ascending = queries[order]
        try:
            in_base = self.base.contains_sorted(ascending) if self.base else np.zeros(len(ascending), dtype=np.bool_)
        except OSError as exc:
            raise StoreError(f"cannot read the revocation list ({exc.strerror}): treat it as stale") from exc
        held = np.where(in_base, ~self.dels.isin(ascending), self.adds.isin(ascending))
        found = np.empty(len(queries), dtype=np.bool_)
        found[order] = held
        return found

    def chunks(self) -> Iterator[Rids]:
        """Every rid of this version in ascending order, a base chunk at a time (what a merge writes)."""
        adds, dels = self.adds.arr, self.dels.arr
        a = d = 0
        for chunk in self.base.chunks() if self.base else ():
            last = chunk[-1:]
            a_end = int(np.searchsorted(adds, last, side="right")[0])
            d_end = int(np.searchsorted(dels, last, side="right")[0])
            out = chunk
            if d_end > d:
                out = np.delete(out, np.searchsorted(out, dels[d:d_end]))
            if a_end > a:
                out = np.insert(out, np.searchsorted(out, adds[a:a_end]), adds[a:a_end])
            a, d = a_end, d_end
            if len(out):
                yield out
        if d != len(dels):
            raise StoreCorruptError("removed rids are missing from the base: remove the store and apply a snapshot")
        for start in range(a, len(adds), CHUNK_ENTRIES):
            yield adds[start : start + CHUNK_ENTRIES]


def _isin(queries: Rids, ascending: Rids) -> npt.NDArray[np.bool_]:
    """Which ``queries`` are in the ascending array (by binary search: NumPy's own set routines hash, and are slow
    on S16)."""
    if not len(queries) or not len(ascending):
        return np.zeros(len(queries), dtype=np.bool_)
    at = np.minimum(np.searchsorted(ascending, queries), len(ascending) - 1)
    return np.asarray(ascending[at] == queries, dtype=np.bool_)


def _union(a: Rids, b: Rids) -> Rids:
    """Union of two ascending arrays without repeats, ascending."""
    fresh = b[~_isin(b, a)]
    return np.insert(a, np.searchsorted(a, fresh), fresh) if len(fresh) else a


def _minus(a: Rids, b: Rids) -> Rids:
    """``a`` without the rids of ``b``, both ascending."""
    return a[~_isin(a, b)]


def advance(version: RevocationVersion, add: Rids, delete: Rids) -> tuple[SortedRids, SortedRids]:
    """The ``adds``/``dels`` after applying a delta: ``(held | add) - delete``, kept relative to the base.

    A base rid is held unless in ``dels``; any other rid is held if in ``adds``. So after the delta ``dels`` is
    (old ``dels`` not re-added) plus the removed base rids, and ``adds`` is (old ``adds`` plus added non-base
    rids) minus the removed ones.
    """
    base = version.base
    add_in_base = base.contains_sorted(add) if base else np.zeros(len(add), dtype=np.bool_)
    del_in_base = base.contains_sorted(delete) if base else np.zeros(len(delete), dtype=np.bool_)
    adds = _minus(_union(version.adds.arr, add[~add_in_base]), delete)
    dels = _union(_minus(version.dels.arr, add), delete[del_in_base])
    return SortedRids.of(adds), SortedRids.of(dels)
