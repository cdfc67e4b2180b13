"""Enrolments the hub has not received yet, kept in the technician's data folder until it can be reached.

One file per device id (``<id>.json``, mode 0600: it holds the broker password), written by a rename of a complete
temporary file; queueing the same device again replaces its file, so a device is queued at most once. Delivery is
idempotent at the hub (the same id and key answer 200), so a file that was delivered but not yet removed when the
tool stopped is simply delivered again. A file the hub refuses for good (another key under that id) is moved
aside to ``refused/`` with the reason, never retried silently.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from hardware.flash.errors import FlashError, HubConflictError, HubError, HubUnreachableError
from hardware.flash.hubapi import EnrolRequest

log = logging.getLogger(__name__)

MAX_QUEUE_FILE_BYTES = 16 * 1024
REFUSED_DIR = "refused"
FORMAT = 1


@dataclass(frozen=True, slots=True)
class QueuedEnrolment:
    """One enrolment waiting for its hub."""

    hub_url: str
    request: EnrolRequest
    ca_file: str | None = None


@dataclass
class Delivery:
    """What one pass over the queue did."""

    delivered: list[str] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    """Kept in the queue, but the hub said no for a reason the technician must fix (e.g. the token)."""


def default_dir() -> Path:
    """``$XDG_DATA_HOME/gridpass/enrol-queue`` (``~/.local/share/...``)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "gridpass" / "enrol-queue"


class EnrolQueue:
    """The queue folder."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _path(self, device_id: str) -> Path:
        return self.directory / f"{device_id}.json"

    def put(self, item: QueuedEnrolment) -> Path:
        """Queue (or re-queue) one device's enrolment."""
        path = self._path(item.request.id)
        request = item.request.to_json()
        document = {"format": FORMAT, "hub_url": item.hub_url, "ca_file": item.ca_file, "request": request}
        try:
            self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            temporary = path.with_suffix(".tmp")
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as out:
                json.dump(document, out)
                out.flush()
                os.fsync(out.fileno())
            temporary.replace(path)
        except OSError as exc:
            raise FlashError(f"cannot queue the enrolment in {self.directory}: {exc.strerror}") from exc
        return path

    def items(self) -> list[tuple[Path, QueuedEnrolment | None]]:
        """Every queued file and its content (None: unreadable, reported by :meth:`deliver`)."""
        if not self.directory.is_dir():
            return []
        return [(path, self._read(path)) for path in sorted(self.directory.glob("*.json"))]

    def pending(self) -> list[str]:
        """Device ids waiting."""
        return [item.request.id for _, item in self.items() if item is not None]

    @staticmethod
    def _read(path: Path) -> QueuedEnrolment | None:
        try:
            if path.stat().st_size > MAX_QUEUE_FILE_BYTES:
                return None
            document = json.loads(path.read_text())
            if not isinstance(document, dict) or document.get("format") != FORMAT:
                return None
            hub_url, ca_file = document.get("hub_url"), document.get("ca_file")
            if not isinstance(hub_url, str) or not (ca_file is None or isinstance(ca_file, str)):
                return None
            return QueuedEnrolment(hub_url, EnrolRequest.from_json(document.get("request")), ca_file)
        except (OSError, ValueError, UnicodeDecodeError):
            return None

    def _refuse(self, path: Path, reason: str) -> None:
        refused = self.directory / REFUSED_DIR
        refused.mkdir(exist_ok=True, mode=0o700)
        path.replace(refused / path.name)
        (refused / f"{path.stem}.reason.txt").write_text(reason + "\n")

    def deliver(
        self, enrol: Callable[[QueuedEnrolment], bool], *, only: str | None = None, hub_url: str | None = None
    ) -> Delivery:
        """Send every queued enrolment (or device ``only``'s, or those for ``hub_url``); remove each the hub has."""
        result = Delivery()
        for path, item in self.items():
            if item is None:
                self._refuse(path, "unreadable queue file")
                result.refused.append((path.stem, "unreadable queue file"))
                continue
            device_id = item.request.id
            if (only is not None and device_id != only) or (hub_url is not None and item.hub_url != hub_url):
                continue
            try:
                enrol(item)
            except HubUnreachableError as exc:
                log.info("enrolment of %s still waiting: %s", device_id, exc)
                result.waiting.append(device_id)
                continue
            except HubConflictError as exc:
                self._refuse(path, str(exc))
                result.refused.append((device_id, str(exc)))
                continue
            except HubError as exc:  # a token or request problem: kept, the technician fixes the cause
                log.warning("enrolment of %s refused for now: %s", device_id, exc)
                result.failed.append((device_id, str(exc)))
                continue
            path.unlink(missing_ok=True)
            result.delivered.append(device_id)
        return result
