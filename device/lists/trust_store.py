"""The terminal's trust list on disk: the signed document last applied, kept whole and re-verified on every start.

Layout: ``DIR/trust.cose``, the COSE document exactly as the district center signed it. It is applied only if it
verifies under the root key provisioned at flashing time and its ``seq`` is higher than the one held
(:func:`protocol.trustlist.accept_newer`), and replaced atomically (temp file, fsync, rename, fsync dir), so a
crash leaves the old list or the new one. No file means no list held: the terminal trusts no key until one
arrives. A file that no longer verifies is an error, never silently an empty list.
"""

from __future__ import annotations

import logging
from pathlib import Path

from device.lists.errors import StoreCorruptError, StoreError
from device.lists.files import read_bounded, write_atomic
from protocol.documents import DocumentError
from protocol.keys import PublicKey
from protocol.trustlist import MAX_TRUST_LIST_BYTES, TrustList, accept_newer, parse_trust_list

_log = logging.getLogger(__name__)

TRUST_FILE = "trust.cose"


class TrustStore:
    """Holds the current verified trust list of a terminal."""

    def __init__(self, directory: Path, root_public_key: PublicKey, current: TrustList) -> None:
        self.directory = directory
        self._root = root_public_key
        self._current = current

    @classmethod
    def open(cls, directory: Path, root_public_key: PublicKey) -> TrustStore:
        """Load the list held in ``directory`` (none held: :meth:`TrustList.empty`, which trusts no key).

        Raises :class:`StoreCorruptError` when the file held does not verify under ``root_public_key`` (damaged,
        or the terminal was given another root key) and :class:`StoreError` when it cannot be read.
        """
        path = directory / TRUST_FILE
        try:
            data = read_bounded(path, MAX_TRUST_LIST_BYTES)
        except FileNotFoundError:
            return cls(directory, root_public_key, TrustList.empty())
        except ValueError as exc:
            raise StoreCorruptError(
                f"{path} is too large to be a trust list: remove it and apply a current one"
            ) from exc
        except OSError as exc:
            raise StoreError(f"cannot read {path}: {exc.strerror}") from exc
        try:
            current = parse_trust_list(data, root_public_key)
        except DocumentError as exc:
            raise StoreCorruptError(
                f"the trust list held in {path} does not verify ({exc}): check the root key, or remove the file "
                "and apply a current trust list"
            ) from exc
        return cls(directory, root_public_key, current)

    @property
    def current(self) -> TrustList:
        """The list held (empty before the first one)."""
        return self._current

    @property
    def seq(self) -> int:
        """Version held (0: none)."""
        return self._current.seq

    def apply(self, document: bytes) -> TrustList:
        """Verify ``document`` and make it the list held if it is newer; refusals are :class:`DocumentError`."""
        candidate = accept_newer(self._current, parse_trust_list(document, self._root))
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            write_atomic(self.directory / TRUST_FILE, document)
        except OSError as exc:
            raise StoreError(f"cannot write {self.directory / TRUST_FILE}: {exc.strerror}; kept the old list") from exc
        self._current = candidate
        _log.info("trust list %d applied (%d issuer kids)", candidate.seq, len(candidate.issuers))
        return candidate
