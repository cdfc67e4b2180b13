"""The terminal's side of ``rotate_key``: a new key made on the spot, kept as *pending* beside the current one until the
hub confirms it verifies the terminal under it, then made current. Files only; the sync thread drives it.

Files (both mode 0600, each written to a temporary file, fsynced, then renamed over, the directory fsynced after):

- ``<key_file>``: the current key (PEM), as provisioned;
- ``<key_file>.rotation``: the pending rotation, JSON ``{"v": 1, "command": id, "key": PEM}``.

Steps and what a crash at each leaves (the hub's side is in ``hub/operations/identity.py``):

1. ``begin``: the pending file is written. Crash before: no pending key, the command is simply unanswered (the
   operator sends it again). Crash after: on restart the pending rotation is loaded and its message sent again.
2. The rotation message (signed by the current key, proof by the pending key) is sent, and again every
   ``RESEND_S`` until the hub answers. Crash before the hub's commit: the hub still has the old key, which the
   terminal still uses; the resend swaps it. Crash after the commit: the hub answers the resend ``rotated`` again.
3. ``promote`` on ``rotated``: the pending key is written over ``<key_file>`` (atomic rename), then the pending file
   removed. Crash between the two: on restart the pending key equals the current one: the leftover file is removed.
4. ``abandon`` on ``refused`` (the hub did not swap): the pending file is removed; the old key stays.

Between steps 2 and 3 the hub may already verify under the new key while the terminal still signs with the old one:
the sync thread sends no record batch then (for at most ``HOLD_S``), and a batch refused in that window is simply
sent again, signed with the new key, after step 3 (batches are sealed at send time; only acks let records go).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ed25519

from protocol.identity import seal_rotation
from protocol.keys import KeyFormatError, kid_of_public_key, load_private_key_pem, private_key_pem

log = logging.getLogger(__name__)

PENDING_SUFFIX = ".rotation"
MAX_PENDING_BYTES = 4096
RESEND_S = 10.0
"""How often the rotation message is sent again until the hub answers."""
HOLD_S = 60.0
"""The longest record batches wait for the hub's answer; after it they go, signed with the current key (a hub that
does not answer may not have swapped; if it has, those batches are refused and sent again after the answer)."""


class RotationFileError(Exception):
    """A key file could not be written; the rotation is not begun (the old key stays in use)."""


@dataclass(frozen=True, slots=True)
class PendingRotation:
    """A new key waiting for the hub's confirmation, and the command it answers."""

    command: str
    key: ed25519.Ed25519PrivateKey

    @property
    def kid(self) -> bytes:
        """The new key's kid."""
        return kid_of_public_key(self.key.public_key())


def _parse_pending(data: bytes) -> PendingRotation:
    """A pending rotation file's content (:class:`ValueError` or :class:`KeyFormatError` when it is not one)."""
    if len(data) > MAX_PENDING_BYTES:
        raise ValueError("too large")
    body = json.loads(data)
    if not isinstance(body, dict) or body.get("v") != 1:
        raise ValueError("not a version 1 pending rotation")
    command, pem = body.get("command"), body.get("key")
    if not isinstance(command, str) or not isinstance(pem, str) or not pem.isascii():
        raise ValueError("no command or key")
    key = load_private_key_pem(pem.encode("ascii"))
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise ValueError("not an Ed25519 key")  # noqa: TRY004 - a file's content, not a caller's type
    return PendingRotation(command, key)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_secret(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data``, readable by the owner only: a crash leaves the old content or the new."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    tmp.replace(path)
    _fsync_dir(path.parent)


class KeyRotation:
    """The current key and the pending rotation, if any; used by the sync thread only."""

    def __init__(self, key_file: Path, current: ed25519.Ed25519PrivateKey, device_id: str) -> None:
        self.key_file = key_file
        self.current = current
        self.device_id = device_id
        self.pending: PendingRotation | None = None
        self.pending_file = key_file.with_name(key_file.name + PENDING_SUFFIX)

    @classmethod
    def load(cls, key_file: Path, current: ed25519.Ed25519PrivateKey, device_id: str) -> KeyRotation:
        """The state left on disk: a pending rotation to finish, or a finished one's leftover file to remove."""
        rotation = cls(key_file, current, device_id)
        pending = rotation._read_pending()
        if pending is None:
            return rotation
        if pending.kid == kid_of_public_key(current.public_key()):
            log.info("key rotation %s had finished: removing its leftover file", pending.command)
            rotation.pending_file.unlink(missing_ok=True)
            return rotation
        log.info("key rotation %s is pending: it is sent to the hub again", pending.command)
        rotation.pending = pending
        return rotation

    def _read_pending(self) -> PendingRotation | None:
        try:
            with self.pending_file.open("rb") as source:
                data = source.read(MAX_PENDING_BYTES + 1)
        except FileNotFoundError:
            return None
        try:
            return _parse_pending(data)
        except (ValueError, KeyFormatError) as exc:
            # Written atomically, so this is not a torn write: set it aside for a person to look at, keep the old key.
            damaged = self.pending_file.with_name(self.pending_file.name + ".damaged")
            self.pending_file.replace(damaged)
            log.warning("the pending key rotation file is unreadable (%s): moved to %s", exc, damaged.name)
            return None

    def begin(self, command: str) -> bytes:
        """Answer a ``rotate_key`` command: a new pending key (or the one pending, bound to this command), written
        before anything is sent; returns the rotation message to send."""
        key = self.pending.key if self.pending is not None else ed25519.Ed25519PrivateKey.generate()
        body = {"v": 1, "command": command, "key": private_key_pem(key).decode("ascii")}
        try:
            write_secret(self.pending_file, json.dumps(body).encode())
        except OSError as exc:
            raise RotationFileError(f"cannot write the pending key: {exc.strerror}") from exc
        self.pending = PendingRotation(command, key)
        return self.message()

    def message(self) -> bytes:
        """The rotation message of the pending rotation (the same bytes every time: Ed25519 is deterministic)."""
        if self.pending is None:
            raise RotationFileError("no rotation is pending")
        return seal_rotation(self.device_id, self.pending.command, self.current, self.pending.key)

    def promote(self, kid: bytes) -> bool:
        """The hub verifies under the key ``kid`` now: make the pending key current. False when it is not pending
        (an answer repeated after the promotion, or about another key)."""
        pending = self.pending
        if pending is None or pending.kid != kid:
            return False
        write_secret(self.key_file, private_key_pem(pending.key))
        self.pending_file.unlink(missing_ok=True)
        _fsync_dir(self.pending_file.parent)
        self.current, self.pending = pending.key, None
        log.info("key rotation %s done: the new key is current", pending.command)
        return True

    def abandon(self, kid: bytes) -> bool:
        """The hub refused the rotation to ``kid`` (nothing changed there): drop the pending key."""
        pending = self.pending
        if pending is None or pending.kid != kid:
            return False
        self.pending_file.unlink(missing_ok=True)
        self.pending = None
        log.warning("key rotation %s refused by the hub: the current key stays", pending.command)
        return True
