"""The signed lists the district tools wrote, as the center serves them: the trust list file and the ledger.

``gridpass district trust-list --out FILE`` writes the trust list; ``gridpass district revoke --state DIR`` keeps
every update of each revocation list in ``DIR/LIST/updates/N.cose``. Each document is verified under the root
key before it is served (a damaged file is reported, never passed on); what was verified is remembered by the
file's size and modification time, so a 160 MB snapshot is not verified on every request.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from protocol.documents import DocumentError
from protocol.keys import PublicKey
from protocol.revocation import parse_revocation_update
from protocol.topics import LIST_ID, check_list_id
from protocol.trustlist import parse_trust_list

MAX_CHAIN = 256
"""Updates named per answer; a hub further behind asks again from where the answer left it."""


class ListFileError(Exception):
    """A list document on disk is missing, unreadable or does not verify under the root key."""


@dataclass(frozen=True, slots=True)
class _Verified:
    stamp: tuple[int, int]
    seq: int
    base: int


class DistrictLists:
    """Read access to the trust list file and the revocation ledger directory."""

    def __init__(self, root_key: PublicKey, *, trust_list: Path | None, ledger: Path | None) -> None:
        self.root_key = root_key
        self.trust_list_path = trust_list
        self.ledger = ledger
        self._verified: dict[Path, _Verified] = {}
        self._lock = threading.Lock()

    def _check(self, path: Path, *, trust: bool) -> tuple[_Verified, bytes | None]:
        """The (seq, base) of a verified document; its bytes when they had to be read to verify it."""
        try:
            stat = path.stat()
        except OSError as exc:
            raise ListFileError(f"cannot read {path.name}: {exc.strerror}") from exc
        stamp = (stat.st_size, stat.st_mtime_ns)
        with self._lock:
            known = self._verified.get(path)
        if known is not None and known.stamp == stamp:
            return known, None
        data = self._read(path)
        try:
            if trust:
                seq, base = parse_trust_list(data, self.root_key).seq, 0
            else:
                update = parse_revocation_update(data, self.root_key)
                seq, base = update.seq, update.base
        except DocumentError as exc:
            raise ListFileError(f"{path.name} does not verify under the root key: {exc}") from exc
        verified = _Verified(stamp, seq, base)
        with self._lock:
            self._verified[path] = verified
        return verified, data

    @staticmethod
    def _read(path: Path) -> bytes:
        try:
            return path.read_bytes()
        except OSError as exc:
            raise ListFileError(f"cannot read {path.name}: {exc.strerror}") from exc

    def trust_list(self) -> tuple[int, bytes] | None:
        """The current trust list (seq, document), None when the district has not signed one."""
        if self.trust_list_path is None or not self.trust_list_path.exists():
            return None
        verified, data = self._check(self.trust_list_path, trust=True)
        return verified.seq, data if data is not None else self._read(self.trust_list_path)

    def trust_seq(self) -> int | None:
        """The current trust list's seq."""
        if self.trust_list_path is None or not self.trust_list_path.exists():
            return None
        return self._check(self.trust_list_path, trust=True)[0].seq

    def _update_path(self, list_id: str, seq: int) -> Path:
        assert self.ledger is not None  # noqa: S101 - callers checked
        return self.ledger / check_list_id(list_id) / "updates" / f"{seq}.cose"

    def revocation_index(self) -> dict[str, int]:
        """Every revocation list in the ledger and its current version."""
        if self.ledger is None or not self.ledger.is_dir():
            return {}
        index = {}
        for directory in sorted(self.ledger.iterdir()):
            if not LIST_ID.fullmatch(directory.name) or not directory.is_dir():
                continue
            updates = [int(path.stem) for path in (directory / "updates").glob("*.cose") if path.stem.isdigit()]
            if updates:
                index[directory.name] = max(updates)
        return index

    def revocation_chain(self, list_id: str, since: int) -> list[int]:
        """The versions a holder of ``since`` fetches, in order: the deltas from ``since`` (or from the newest
        snapshot when no chain of deltas reaches back to ``since``), the first ``MAX_CHAIN`` of them."""
        current = self.revocation_index().get(list_id)
        if current is None or current <= since:
            return []
        chain: list[int] = []
        seq = current
        while seq > since:
            chain.append(seq)
            base = self._check(self._update_path(list_id, seq), trust=False)[0].base
            if base == 0 or base <= since:
                if 0 < base < since:
                    raise ListFileError(f"update {list_id}/{seq} does not continue from version {since}")
                break
            seq = base
        chain.reverse()
        return chain[:MAX_CHAIN]

    def revocation_document(self, list_id: str, seq: int) -> bytes | None:
        """One verified update, None when the ledger has no such version."""
        if self.ledger is None:
            return None
        path = self._update_path(list_id, seq)
        if not path.exists():
            return None
        verified, data = self._check(path, trust=False)
        if verified.seq != seq:
            raise ListFileError(f"{list_id}/updates/{seq}.cose holds version {verified.seq}")
        return data if data is not None else self._read(path)
