"""The district's revocation ledger: the current set of one list, its version, and every update it issued.

Kept in a directory per list::

    LIST/versions/N.rids   the sorted rids of version N (16 bytes each); only the current one is kept
    LIST/updates/N.cose    every signed update, kept so holders that fell behind can catch up delta by delta
    LIST/state.json        {"seq": N, "ts": T}: the commit point, written last, so a crash anywhere before it
                           leaves the previous version current and whole
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from protocol.keys import PrivateKey
from protocol.revocation import RID_BYTES, build_revocation_update
from protocol.topics import check_list_id


class LedgerError(Exception):
    """The ledger directory is damaged or was written by something else."""


@dataclass(frozen=True, slots=True)
class Published:
    """What one call to :meth:`RevocationLedger.publish` produced."""

    path: Path
    document: bytes
    seq: int
    base: int
    added: int
    removed: int
    entries: int


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a crash leaves either the old file or the new one, never a mix."""
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    tmp.replace(path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class RevocationLedger:
    """The issuing side of one revocation list."""

    def __init__(self, directory: Path, list_id: str) -> None:
        self.list_id = check_list_id(list_id)
        self.root = directory / list_id
        self._state_path = self.root / "state.json"
        self.versions = self.root / "versions"
        self.updates = self.root / "updates"

    @property
    def seq(self) -> int:
        """The current version (0 before the first update)."""
        if not self._state_path.exists():
            return 0
        try:
            state = json.loads(self._state_path.read_text())
            return int(state["seq"])
        except (ValueError, KeyError, TypeError) as exc:
            raise LedgerError(f"{self._state_path} is damaged: restore it from backup") from exc

    def rids(self) -> set[bytes]:
        """The rids of the current version."""
        if self.seq == 0:
            return set()
        path = self.versions / f"{self.seq}.rids"
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise LedgerError(f"cannot read {path}: restore the ledger from backup") from exc
        if len(data) % RID_BYTES:
            raise LedgerError(f"{path} is not a whole number of rids: restore it from backup")
        return {data[i : i + RID_BYTES] for i in range(0, len(data), RID_BYTES)}

    def publish(
        self,
        root_key: PrivateKey,
        *,
        ts: int,
        add: Iterable[bytes] = (),
        remove: Iterable[bytes] = (),
        full: bool = False,
    ) -> Published:
        """Issue the next version: a delta from the current one, or a full snapshot (always the first time)."""
        current = self.rids()
        add_set, remove_set = set(add), set(remove)
        new = (current | add_set) - remove_set
        base, seq = self.seq, self.seq + 1
        if full or base == 0:
            document = build_revocation_update(root_key, list_id=self.list_id, seq=seq, base=0, ts=ts, add=new)
        else:
            document = build_revocation_update(
                root_key,
                list_id=self.list_id,
                seq=seq,
                base=base,
                ts=ts,
                add=new - current,
                delete=current - new,
            )
        self.updates.mkdir(parents=True, exist_ok=True)
        self.versions.mkdir(parents=True, exist_ok=True)
        path = self.updates / f"{seq}.cose"
        write_atomic(path, document)
        write_atomic(self.versions / f"{seq}.rids", b"".join(sorted(new)))
        write_atomic(self._state_path, json.dumps({"seq": seq, "ts": ts}).encode())
        for old in self.versions.glob("*.rids"):
            if old.stem != str(seq):
                old.unlink(missing_ok=True)
        return Published(
            path,
            document,
            seq,
            0 if full or base == 0 else base,
            len(new - current),
            len(current - new),
            len(new),
        )

    def snapshot(self, root_key: PrivateKey, *, ts: int) -> bytes:
        """A full snapshot of the current version, for a holder too far behind to catch up by deltas."""
        if self.seq == 0:
            raise LedgerError(f"list {self.list_id} has no version yet: publish one first")
        return build_revocation_update(root_key, list_id=self.list_id, seq=self.seq, base=0, ts=ts, add=self.rids())
