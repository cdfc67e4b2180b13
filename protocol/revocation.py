"""Revocation ids, revocation update documents and the holder rules (revocation spec).

``rid = SHA-256(kind || iss_utf8 || 0x00 || id)[0:16]``: lists carry only these hashes, never the ids.
An update is a root-signed snapshot (``base`` 0) or delta (``base`` = the version it applies to). The holder
rules live in :func:`check_applicable`, shared by every holder; :class:`RevocationSet` is the in-memory holder used
by ``gridpass verify`` and the hub (the terminal keeps its own on-disk store with the same rules).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from types import MappingProxyType
from typing import Protocol

import numpy as np
import numpy.typing as npt

from protocol.documents import DocumentError, DocumentProblem, open_signed, seal, uint
from protocol.documents import field as doc_field
from protocol.keys import PrivateKey, PublicKey

RID_BYTES = 16
REVOCATION_VERSION = 1
MAX_LIST_ID_CHARS = 64
MAX_REVOCATION_ENTRIES = 20_000_000
"""Twice the spec's stress case; a larger document is refused as too large."""
MAX_REVOCATION_DOCUMENT_BYTES = MAX_REVOCATION_ENTRIES * RID_BYTES + 64 * 1024
HC1_SIGNATURE_PREFIX_BYTES = 32

_RID_DTYPE = np.dtype("S16")


class RidKind(IntEnum):
    """What a revocation id revokes."""

    PASS = 0x01
    HOLDER = 0x02
    HC1_SIGNATURE = 0x03


def revocation_id(kind: RidKind, iss: str, ident: bytes) -> bytes:
    """The 16-byte revocation id of ``ident`` (a pass id, holder pseudonym or signature prefix) from ``iss``."""
    return hashlib.sha256(bytes([kind]) + iss.encode("utf-8") + b"\x00" + ident).digest()[:RID_BYTES]


def pass_rid(iss: str, cti: bytes) -> bytes:
    """Revokes one pass."""
    return revocation_id(RidKind.PASS, iss, cti)


def holder_rid(iss: str, hid: bytes) -> bytes:
    """Revokes every pass of one holder from one issuer."""
    return revocation_id(RidKind.HOLDER, iss, hid)


def hc1_signature_rid(iss: str, signature: bytes) -> bytes:
    """Revokes one HC1 certificate, by the first 32 bytes of its COSE signature."""
    return revocation_id(RidKind.HC1_SIGNATURE, iss, signature[:HC1_SIGNATURE_PREFIX_BYTES])


@dataclass(frozen=True, slots=True)
class RevocationUpdate:
    """A verified update document. ``add`` and ``delete`` are sorted, concatenated 16-byte rids."""

    list_id: str
    seq: int
    base: int
    ts: int
    add: bytes
    delete: bytes

    @property
    def is_snapshot(self) -> bool:
        """A full snapshot replaces everything held."""
        return self.base == 0

    def added(self) -> Iterator[bytes]:
        """The added rids, one by one."""
        return _chunks(self.add)

    def deleted(self) -> Iterator[bytes]:
        """The removed rids, one by one."""
        return _chunks(self.delete)


def _chunks(data: bytes) -> Iterator[bytes]:
    return (data[i : i + RID_BYTES] for i in range(0, len(data), RID_BYTES))


def _sorted_unique(rids: Iterable[bytes]) -> bytes:
    unique = set(rids)
    if any(len(r) != RID_BYTES for r in unique):
        raise ValueError("every rid is 16 bytes")
    return b"".join(sorted(unique))


def build_revocation_update(
    root_key: PrivateKey,
    *,
    list_id: str,
    seq: int,
    base: int,
    ts: int,
    add: Iterable[bytes] = (),
    delete: Iterable[bytes] = (),
) -> bytes:
    """Sign a revocation update (``base`` 0: a full snapshot whose ``add`` is the whole list)."""
    if not 0 <= base < seq:
        raise ValueError("an update's seq must be higher than its base")
    body = {
        "v": REVOCATION_VERSION,
        "list": list_id,
        "seq": seq,
        "base": base,
        "ts": ts,
        "add": _sorted_unique(add),
        "del": _sorted_unique(delete),
    }
    return seal(root_key, body)


def parse_revocation_update(
    data: bytes, root_public_key: PublicKey, *, max_bytes: int = MAX_REVOCATION_DOCUMENT_BYTES
) -> RevocationUpdate:
    """Verify and load an update document; refusals are :class:`DocumentError`."""
    body = open_signed(data, root_public_key, max_bytes=max_bytes)
    if doc_field(body, "v", int) != REVOCATION_VERSION:
        raise DocumentError(DocumentProblem.BAD_SCHEMA, "unknown revocation document version")
    list_id = doc_field(body, "list", str)
    if not 0 < len(list_id) <= MAX_LIST_ID_CHARS:
        raise DocumentError(DocumentProblem.BAD_SCHEMA, "list id must be 1 to 64 characters")
    seq, base, ts = uint(body, "seq"), uint(body, "base"), uint(body, "ts")
    if base >= seq:
        raise DocumentError(DocumentProblem.BAD_SCHEMA, f"seq {seq} is not higher than base {base}")
    add = doc_field(body, "add", bytes)
    delete = doc_field(body, "del", bytes)
    for name, rids in (("add", add), ("del", delete)):
        if len(rids) % RID_BYTES:
            raise DocumentError(DocumentProblem.BAD_SCHEMA, f"{name} is not a whole number of 16-byte rids")
        if not _strictly_ascending(_as_array(rids)):
            raise DocumentError(DocumentProblem.BAD_SCHEMA, f"{name} is not sorted without repeats")
    return RevocationUpdate(list_id, seq, base, ts, bytes(add), bytes(delete))


def _as_array(rids: bytes) -> npt.NDArray[np.bytes_]:
    return np.frombuffer(rids, dtype=_RID_DTYPE)


def _strictly_ascending(rids: npt.NDArray[np.bytes_]) -> bool:
    # Compare as pairs of big-endian 64-bit words: NumPy's S16 comparison would ignore trailing zero bytes.
    words = np.frombuffer(rids.tobytes(), dtype=">u8").reshape(-1, 2)
    hi, lo = words[:, 0], words[:, 1]
    later = (hi[1:] > hi[:-1]) | ((hi[1:] == hi[:-1]) & (lo[1:] > lo[:-1]))
    return bool(later.all())


def _members(held: npt.NDArray[np.bytes_], rids: npt.NDArray[np.bytes_]) -> npt.NDArray[np.bool_]:
    """For each of ``rids``, whether the sorted ``held`` contains it."""
    if not len(held) or not len(rids):
        return np.zeros(len(rids), dtype=bool)
    at = np.minimum(np.searchsorted(held, rids), len(held) - 1)
    found: npt.NDArray[np.bool_] = held[at] == rids
    return found


def check_applicable(update: RevocationUpdate, *, list_id: str, held_seq: int) -> None:
    """The holder rules: right list, newer than held, and either a snapshot or a delta on exactly the held version.

    A gap (a delta whose base is not the held version) is never applied: the caller asks for the missing
    updates or a snapshot.
    """
    if update.list_id != list_id:
        raise DocumentError(DocumentProblem.WRONG_LIST, f"update is for list {update.list_id}, not {list_id}")
    if update.seq <= held_seq:
        raise DocumentError(DocumentProblem.NOT_NEWER, f"update to {update.seq} is not newer than held {held_seq}")
    if not update.is_snapshot and update.base != held_seq:
        # A base ahead of the held version misses the updates in between; one behind it was built for an older
        # version, and only a delta on the held version or a snapshot can follow.
        missing = (
            f"fetch versions {held_seq + 1}..{update.base}"
            if update.base > held_seq
            else f"fetch the delta on version {held_seq}"
        )
        raise DocumentError(
            DocumentProblem.GAP,
            f"delta applies to version {update.base} but {held_seq} is held: {missing} or a full snapshot",
        )


class RevocationView(Protocol):
    """What the decision asks of revocations: is this rid in the one version being answered from."""

    def __contains__(self, rid: object) -> bool:
        """True when the rid is revoked."""
        ...


@dataclass(frozen=True, slots=True)
class RevocationSet:
    """One version of one list, immutable: applying an update returns a new set and leaves this one whole.

    Held as a sorted NumPy array of 16-byte rids (16 bytes per entry, binary search per lookup).
    """

    list_id: str
    seq: int
    ts: int
    rids: npt.NDArray[np.bytes_]

    @classmethod
    def empty(cls, list_id: str) -> RevocationSet:
        """Version 0: nothing revoked yet."""
        return cls(list_id, 0, 0, np.empty(0, dtype=_RID_DTYPE))

    def __len__(self) -> int:
        return int(self.rids.shape[0])

    def __contains__(self, rid: object) -> bool:
        # On every scan: the array's own searchsorted with the bytes as they are (NumPy's module-level function and
        # a frombuffer needle cost twice as much). The match is checked on the slice's bytes, because an S16 element
        # read back on its own loses its trailing zero bytes.
        if not isinstance(rid, bytes) or len(rid) != RID_BYTES:
            return False
        rids = self.rids
        at = int(rids.searchsorted(rid))
        return at < rids.shape[0] and rids[at : at + 1].tobytes() == rid

    def apply(self, update: RevocationUpdate) -> RevocationSet:
        """The version after ``update``, under the holder rules (:func:`check_applicable`)."""
        check_applicable(update, list_id=self.list_id, held_seq=self.seq)
        added = _as_array(update.add)
        if update.is_snapshot:
            return RevocationSet(self.list_id, update.seq, update.ts, added.copy())
        # Both sides are sorted without repeats: merge by binary search, O(n + m log n), never a hash-based unique.
        merged = self.rids
        new = added[~_members(merged, added)]
        if len(new):
            merged = np.insert(merged, np.searchsorted(merged, new), new)
        if update.delete:
            gone = _as_array(update.delete)
            at = np.searchsorted(merged, gone)
            found = _members(merged, gone)
            merged = np.delete(merged, at[found])
        return RevocationSet(self.list_id, update.seq, update.ts, merged)


@dataclass(frozen=True, slots=True)
class HeldLists:
    """Several lists held at once (one per district list id), answering from each one's current version."""

    lists: Mapping[str, RevocationSet] = field(default_factory=lambda: MappingProxyType({}))

    def apply(self, update: RevocationUpdate) -> HeldLists:
        """Apply ``update`` to its list (a list not held yet starts at version 0)."""
        held = self.lists.get(update.list_id) or RevocationSet.empty(update.list_id)
        return HeldLists(MappingProxyType({**self.lists, update.list_id: held.apply(update)}))

    def __contains__(self, rid: object) -> bool:
        return any(rid in held for held in self.lists.values())

    def oldest_ts(self) -> int | None:
        """The issue time of the least recent list held, for the staleness rule (None when nothing is held)."""
        return min((held.ts for held in self.lists.values()), default=None)
