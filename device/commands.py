"""What hub commands and configuration pushes ask of the running terminal, apart from the sync thread's own work.

The sync thread answers ``sync_now`` and ``resend`` itself (they concern its outbox); everything that concerns the
terminal as a whole comes here: take a pushed configuration (then restart into it), take a snapshot now, restart the
process or the machine, wipe the terminal's data and credentials. Each answer is a :class:`CommandResult` with the
command's correlation id; a pushed configuration is answered under the id ``config:<version>``.

A restart or a wipe is not done on the sync thread: it is requested (``exit_request``) and the app's run loop stops
every part in order, closes the store, and then the caller (``gridpass device run``) rebuilds the terminal or wipes it.
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from device.config import DeviceConfig
from device.config_push import ConfigPushError, take
from device.keys_rotation import PENDING_SUFFIX
from protocol.documents import DocumentProblem
from protocol.keys import PublicKey
from protocol.messages import Command, CommandMessage, CommandResult

log = logging.getLogger(__name__)

REBOOT_COMMAND = ("systemctl", "reboot")
UPDATE_UNIT = ("systemd-run", "--unit=gridpass-update", "--collect")
"""The installer runs in a transient unit of its own, outside the terminal's service (which it restarts); the
``gridpass`` user needs a polkit rule allowing it that unit (docs/updates.md)."""
RELEASE_LAUNCHER = Path("/opt/gridpass/current/bin/gridpass")
HEX_SHA256 = re.compile(r"[0-9a-f]{64}")
"""What ``reboot`` with ``{"os": true}`` runs (polkit or the unit's privileges decide whether it may)."""


class ExitRequest(StrEnum):
    """Why the run loop was asked to stop, and what its caller does next."""

    RESTART = "restart"
    WIPE = "wipe"


@dataclass
class TerminalActions:
    """The whole-terminal actions, bound to one built terminal by the app."""

    base_config: DeviceConfig
    """The terminal's own file, before any push: pushes are laid over this, never over a previous push."""
    root_key: PublicKey
    stop: Callable[[], None]
    """Stops the app's run loop (set by the app when it runs)."""
    config_version: int = 0
    snapshot: Callable[[str], bool] | None = None
    """Asks for a snapshot now; the text starts with the trigger kind (``command ...`` or ``decision ...``); False
    when the camera refused it (a trigger flood, a kind it does not know)."""
    on_decision: Callable[[str, str], bool] | None = None
    """A scanner's (decision, reason) at this site relayed by the hub; True when it asked for a snapshot."""
    run_command: Callable[[tuple[str, ...]], int] = field(
        default=lambda argv: subprocess.run(argv, check=False, timeout=30).returncode  # noqa: S603
    )
    exit_request: ExitRequest | None = None
    refused_configs: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def take_config(self, payload: bytes) -> CommandResult | None:
        """A ``down/config`` payload: keep it and restart into it; None for the retained copy of the one held."""
        try:
            pushed = take(
                payload,
                self.base_config,
                self.root_key,
                held_version=self.config_version,
                data_dir=self.base_config.device.data_dir,
            )
        except ConfigPushError as exc:
            if exc.reason == DocumentProblem.NOT_NEWER.value:
                return None
            with self._lock:
                self.refused_configs[exc.reason] = self.refused_configs.get(exc.reason, 0) + 1
            log.warning("pushed configuration refused: %s", exc.reason)
            answer_id = f"config:{exc.version}" if exc.version is not None else "config:refused"
            return CommandResult(answer_id, ok=False, detail=str(exc)[:120])
        log.info("configuration version %d taken; restarting into it", pushed.doc.version)
        self._request(ExitRequest.RESTART)
        return CommandResult(f"config:{pushed.doc.version}", ok=True, detail="taken; restarting into it")

    def handle(self, command: CommandMessage) -> CommandResult:
        """A whole-terminal command (not ``sync_now`` or ``resend``)."""
        if command.command is Command.SNAPSHOT_NOW:
            if self.snapshot is None:
                return CommandResult(command.id, ok=False, detail="not a camera terminal: it takes no snapshots")
            trigger = command.args.get("trigger")
            if isinstance(trigger, str) and self.on_decision is not None:
                # the hub relays a scanner's refusal at this site; the camera's own [snapshots] list decides
                decision = command.args.get("decision")
                if not self.on_decision(decision if isinstance(decision, str) else "deny", trigger):
                    return CommandResult(command.id, ok=False, detail=f"{trigger[:40]} is not a trigger here")
                return CommandResult(command.id, ok=True, detail="snapshot requested")
            if not self.snapshot(f"command {command.id}"):
                return CommandResult(command.id, ok=False, detail="the camera refused the trigger (see its status)")
            return CommandResult(command.id, ok=True, detail="snapshot requested")
        if command.command is Command.REBOOT:
            if command.args.get("os") is True:
                code = self.run_command(REBOOT_COMMAND)
                if code != 0:
                    return CommandResult(command.id, ok=False, detail=f"systemctl reboot exited with {code}")
                return CommandResult(command.id, ok=True, detail="rebooting the machine")
            self._request(ExitRequest.RESTART)
            return CommandResult(command.id, ok=True, detail="restarting the terminal")
        if command.command is Command.WIPE:
            if command.args.get("confirm") != self.base_config.device.id:
                return CommandResult(command.id, ok=False, detail="wipe needs args.confirm equal to the device id")
            self._request(ExitRequest.WIPE)
            return CommandResult(command.id, ok=True, detail="wiping data and credentials, then stopping")
        if command.command is Command.UPDATE:
            return self._update(command)
        return CommandResult(command.id, ok=False, detail=f"{command.command.value} is not supported by this firmware")

    def _update(self, command: CommandMessage) -> CommandResult:
        """Start the installer in a transient unit of its own: it restarts this service and must outlive it."""
        url, sha256 = command.args.get("url"), command.args.get("sha256")
        if not isinstance(url, str) or not url.startswith(("https://", "http://")) or not isinstance(sha256, str):
            return CommandResult(command.id, ok=False, detail="update needs args.url (http/https) and args.sha256")
        if not HEX_SHA256.fullmatch(sha256):
            return CommandResult(command.id, ok=False, detail="args.sha256 is not 64 hex digits")
        program = (str(RELEASE_LAUNCHER),) if RELEASE_LAUNCHER.exists() else (sys.executable, "-m", "cli")
        code = self.run_command((*UPDATE_UNIT, *program, "device", "update", "--url", url, "--sha256", sha256))
        if code != 0:
            return CommandResult(command.id, ok=False, detail=f"could not start the installer (exit {code})")
        return CommandResult(command.id, ok=True, detail="installer started; the terminal restarts into the release")

    def _request(self, request: ExitRequest) -> None:
        with self._lock:
            if self.exit_request is not ExitRequest.WIPE:  # a wipe is never downgraded to a restart
                self.exit_request = request
        self.stop()


def wipe(config: DeviceConfig) -> list[Path]:
    """Remove the terminal's data directory contents and its credentials; returns what was removed.

    Run after the app stopped (store closed). The root key and the config file stay: they are not secrets, and the
    terminal then refuses to start with a message that says to re-provision it.
    """
    removed: list[Path] = []
    data_dir = config.device.data_dir
    if data_dir.is_dir():
        for entry in data_dir.iterdir():
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
            removed.append(entry)
    if config.sync is not None:
        pending = config.sync.key_file.with_name(config.sync.key_file.name + PENDING_SUFFIX)  # a rotation's new key
        damaged = pending.with_name(pending.name + ".damaged")
        for secret in (config.sync.key_file, config.sync.password_file, pending, damaged):
            if secret.exists():
                secret.unlink()
                removed.append(secret)
    return removed
