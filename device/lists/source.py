"""What the verifier decides with: the stored trust list and revocation list, and how current they are.

A list is *current* as of the last time the terminal heard that the version it holds is the newest (from the hub's
retained ``dist/`` topics), persisted in the store; before any such news, as of the list's own issue time. A
revocation store that cannot be opened is treated as absent and the lists as never current, so every pass becomes a
check until a good list arrives: a damaged list never silently becomes an empty one.
"""

from __future__ import annotations

import logging
from typing import Protocol

from device.lists.revocation_store import RevocationStore
from device.lists.trust_store import TrustStore
from device.scanner.verifier import ListsSnapshot

log = logging.getLogger(__name__)

CURRENT_AT_KEY = "lists_current_at"


class MetaStore(Protocol):
    """Where the terminal persists small values (the device store)."""

    def get_meta(self, key: str) -> str | None:
        """Read a value."""

    def set_meta(self, key: str, value: str) -> None:
        """Write a value."""


class _Nothing:
    """No revocation list held."""

    def __contains__(self, rid: object) -> bool:
        return False


class StoredLists:
    """The lists of a running terminal."""

    def __init__(self, trust: TrustStore, revocations: RevocationStore | None, meta: MetaStore) -> None:
        self.trust = trust
        self.revocations = revocations
        self.meta = meta
        saved = meta.get_meta(CURRENT_AT_KEY)
        self._heard_current_at = float(saved) if saved else None
        self._dirty = False

    def mark_current(self, now: float) -> None:
        """The hub confirmed that the versions held are the newest (any thread: memory only, see :meth:`flush`)."""
        self._heard_current_at = now
        self._dirty = True

    def flush(self) -> None:
        """Persist what :meth:`mark_current` noted; only the thread that owns the store's connection calls this."""
        if self._dirty and self._heard_current_at is not None:
            self.meta.set_meta(CURRENT_AT_KEY, repr(self._heard_current_at))
            self._dirty = False

    def current_at(self) -> float | None:
        """Since when the lists are known current (None: they are not usable)."""
        if self.revocations is None or not self.trust.seq or not self.revocations.seq:
            return None
        issued = float(min(self.trust.current.ts, self.revocations.ts))
        return max(issued, self._heard_current_at or issued)

    def snapshot(self) -> ListsSnapshot:
        """One version of each list, for one decision."""
        revocations = self.revocations.view() if self.revocations is not None else _Nothing()
        return ListsSnapshot(self.trust.current, revocations, self.current_at())
