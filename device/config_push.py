"""Configuration pushed by the hub: which settings a terminal lets the hub change, and how a push is taken.

The terminal's own TOML file (on the SD card, written at flashing) stays the base. A push carries the complete set of
overrides (not a diff against the previous push), signed as ``protocol/device_config.py`` describes; the terminal
verifies it, refuses one that is not newer than what it holds, lays the overrides over its base file, validates the
result with the same models as the file, and only then keeps it (``pushed-config.cbor`` in the data directory,
written atomically). The new settings take effect through a restart of the terminal's process (the app rebuilds
every part from the effective configuration), so there is one way to build a terminal, not a second one that patches
a running one.

Identity, keys, the broker address and the data directory are never pushable: a hub must not be able to move a
terminal to another hub or make it trust another root.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from device.config import ConfigError, DeviceConfig, validate
from device.lists.files import write_atomic
from protocol.device_config import DeviceConfigDoc, open_device_config
from protocol.documents import DocumentError, DocumentProblem
from protocol.keys import PublicKey

log = logging.getLogger(__name__)

PUSHED_FILE = "pushed-config.cbor"
ALL = None
PUSHABLE: dict[str, frozenset[str] | None] = {
    "device": frozenset({"site", "grid_cell"}),
    "camera": frozenset({"width", "height", "fps"}),
    "signal": frozenset({"gate_open_ms"}),
    "scan": ALL,
    "store": ALL,
    "sync": frozenset({"batch_records", "batch_bytes", "window", "ack_timeout_s", "rate_messages_s", "rate_bytes_s"}),
    "snapshots": ALL,
    "handheld": ALL,
}
"""Top-level section -> keys the hub may set (``ALL``: every key of the section, sub-tables included)."""
MAX_PATH_DEPTH = 3


class ConfigPushError(Exception):
    """A pushed configuration that was not taken; ``reason`` is its counter name."""

    def __init__(self, reason: str, detail: str, version: int | None = None) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.version = version
        """The refused version, when the document verified far enough to tell it."""


@dataclass(frozen=True, slots=True)
class Pushed:
    """A taken push: the verified document and the effective configuration it gives."""

    doc: DeviceConfigDoc
    effective: DeviceConfig


def overlay(base: DeviceConfig, settings: dict[str, dict[str, Any]]) -> DeviceConfig:
    """``base`` with the pushed ``settings`` laid over it, validated; refuses keys the hub may not set.

    A section name may be a dotted path (``snapshots.motion``) to reach a sub-table.
    """
    raw = base.model_dump(mode="json", exclude_none=True)
    for section, values in settings.items():
        path = section.split(".")
        if len(path) > MAX_PATH_DEPTH or not all(path):
            raise ConfigPushError("not_pushable", f"section {section!r} is not a path of at most 3 names")
        allowed = PUSHABLE.get(path[0], frozenset())
        for key in values:
            if allowed is not ALL and (len(path) > 1 or key not in allowed):
                raise ConfigPushError("not_pushable", f"{section}.{key} cannot be set from the hub")
        target = raw
        for name in path:
            child = target.setdefault(name, {})
            if not isinstance(child, dict):
                raise ConfigPushError("not_pushable", f"{section} is not a table")
            target = child
        target.update(copy.deepcopy(values))
    try:
        return validate(raw, "pushed configuration")
    except ConfigError as exc:
        problems = "; ".join(f"{key}: {message}" for key, message in exc.problems)
        raise ConfigPushError("invalid", problems) from exc


def take(payload: bytes, base: DeviceConfig, root_key: PublicKey, *, held_version: int, data_dir: Path) -> Pushed:
    """Verify, check newer, overlay and validate a ``down/config`` payload; keep it on disk when all is well.

    Raises :class:`ConfigPushError` (``not_newer`` for the retained copy of what is already held).
    """
    try:
        doc = open_device_config(payload, root_key, device=base.device.id)
    except DocumentError as exc:
        raise ConfigPushError(exc.problem.value, exc.detail) from exc
    if doc.version <= held_version:
        raise ConfigPushError(DocumentProblem.NOT_NEWER.value, f"version {doc.version} is not above {held_version}")
    try:
        effective = overlay(base, doc.settings)
    except ConfigPushError as exc:
        raise ConfigPushError(exc.reason, exc.detail, doc.version) from exc
    try:
        write_atomic(data_dir / PUSHED_FILE, payload)
    except OSError as exc:
        raise ConfigPushError("unstored", f"cannot keep the configuration: {exc.strerror}") from exc
    return Pushed(doc, effective)


def load_pushed(base: DeviceConfig, root_key: PublicKey, problems: list[str]) -> Pushed | None:
    """The push kept on disk, verified and laid over ``base`` again; None when there is none or it no longer fits.

    A kept push that no longer verifies or validates (the base file was edited, the root key changed) is reported in
    ``problems`` and ignored: the terminal runs on its own file rather than not at all.
    """
    path = base.device.data_dir / PUSHED_FILE
    try:
        payload = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        problems.append(f"config: cannot read the pushed configuration: {exc.strerror}")
        return None
    try:
        return take_kept(payload, base, root_key)
    except ConfigPushError as exc:
        problems.append(f"config: the pushed configuration is ignored ({exc}); push it again from the hub")
        log.warning("pushed configuration ignored: %s", exc)
        return None


def take_kept(payload: bytes, base: DeviceConfig, root_key: PublicKey) -> Pushed:
    """A kept payload, verified and laid over ``base`` (no newer check, nothing written)."""
    try:
        doc = open_device_config(payload, root_key, device=base.device.id)
    except DocumentError as exc:
        raise ConfigPushError(exc.problem.value, exc.detail) from exc
    return Pushed(doc, overlay(base, doc.settings))
