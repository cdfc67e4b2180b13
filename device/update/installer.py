"""Install a verified bundle beside the running version, switch atomically, check health, switch back on failure.

Layout under the release root (``/opt/gridpass``)::

    releases/<version>/site/          the bundle's wheels installed (pip --target, no index, no dependencies)
    releases/<version>/bin/<command>  launcher: that release's site on PYTHONPATH, its entry point
    releases/<version>/manifest.json  the signed manifest it came from
    current  -> releases/<version>    what the service runs (``current/bin/gridpass``)
    previous -> releases/<version>    what a rollback goes back to
    update.json                       the last attempt: trying / installed / rolled-back, and why
    tmp/                              bundles being verified and releases being built (emptied on every start)

A release folder is built under ``tmp/`` and renamed into ``releases/`` only when complete; ``current`` is switched
by renaming a new symlink over it (one ``rename(2)``), so at every instant it names a complete release. Before the
switch ``update.json`` says *trying*; an installer that finds *trying* (the power failed during the health check)
switches back first. No server takes part in any of it.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric import ed25519

from device.update.bundle import (
    HEX_SHA256,
    MANIFEST,
    VERSION,
    Manifest,
    VerifiedBundle,
    open_bundle,
    parse_manifest,
    sha256_file,
)
from device.update.errors import BundleError, RolledBackError, UpdateError
from device.update.health import HEALTH_DEADLINE_S, Check, run_checks

log = logging.getLogger(__name__)

RELEASES = "releases"
CURRENT = "current"
PREVIOUS = "previous"
STATE_FILE = "update.json"
TMP = "tmp"
PIP_TIMEOUT_S = 600.0
DOWNLOAD_TIMEOUT_S = 60.0
MAX_DOWNLOAD_BYTES = 1024 * 2**20
KEEP_RELEASES = 2
"""current and previous; older releases are removed after a healthy switch."""

LAUNCHER = """#!/bin/sh
# gridpass release launcher (written by the installer): this release's packages first, then the base system's.
HERE=$(cd "$(dirname "$0")/.." && pwd -P)
PYTHONPATH="$HERE/site${{PYTHONPATH:+:$PYTHONPATH}}" \\
    exec {python} -c 'import sys; from {module} import {function}; sys.exit({function}())' "$@"
"""


def current_version(root: Path) -> str | None:
    """The running release's version (for the birth message and the dashboard), None before the first install."""
    try:
        return parse_manifest((root / CURRENT / MANIFEST).read_bytes()).version
    except (OSError, BundleError):
        return None


@dataclass(frozen=True, slots=True)
class UpdateOutcome:
    """What an install did."""

    version: str
    previous: str | None
    changed: bool
    """False: that version was already running."""


class Installer:
    """Installs bundles under ``root``; ``restart`` makes the service run ``current`` again; ``checks`` judge it."""

    def __init__(
        self, root: Path, release_key: ed25519.Ed25519PublicKey, *, checks: Callable[[float], Sequence[Check]],
        restart: Callable[[], None], monotonic: Callable[[], float] = time.monotonic,
        wait: Callable[[float], object] = time.sleep, clock: Callable[[], float] = time.time,
        deadline_s: float = HEALTH_DEADLINE_S, python: str = sys.executable,
    ) -> None:  # fmt: skip
        self.root = root
        self.release_key = release_key
        self.checks = checks
        """Made per attempt, given the wall-clock time the new version was started."""
        self.restart = restart
        self.monotonic, self.wait, self.clock = monotonic, wait, clock
        self.deadline_s = deadline_s
        self.python = python

    # --- state ------------------------------------------------------------------------------------------------------

    def _write_state(self, document: dict[str, Any]) -> None:
        path = self.root / STATE_FILE
        temporary = path.with_suffix(".tmp")
        with temporary.open("w") as out:
            json.dump(document, out)
            out.flush()
            os.fsync(out.fileno())
        temporary.replace(path)

    def last_attempt(self) -> dict[str, Any] | None:
        """``update.json``: the last attempt, or None."""
        try:
            document = json.loads((self.root / STATE_FILE).read_text())
        except (OSError, ValueError):
            return None
        return document if isinstance(document, dict) else None

    def _link_target(self, name: str) -> Path | None:
        link = self.root / name
        return (self.root / link.readlink()) if link.is_symlink() else None

    def _point(self, name: str, target: Path | None) -> None:
        """Make ``name`` point at ``target`` (relative) in one rename, or remove it for None."""
        link = self.root / name
        if target is None:
            link.unlink(missing_ok=True)
            return
        temporary = self.root / f".{name}.new"
        temporary.unlink(missing_ok=True)
        temporary.symlink_to(target.relative_to(self.root))
        temporary.replace(link)
        fd = os.open(self.root, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def recover(self) -> str | None:
        """Finish what a power failure interrupted: a switch still *trying* is undone. Returns what was done."""
        (self.root / TMP).mkdir(parents=True, exist_ok=True)
        (self.root / RELEASES).mkdir(exist_ok=True)
        for leftover in (self.root / TMP).iterdir():
            shutil.rmtree(leftover, ignore_errors=True) if leftover.is_dir() else leftover.unlink(missing_ok=True)
        state = self.last_attempt()
        if state is None or state.get("state") != "trying":
            return None
        previous = state.get("previous")
        target = self.root / RELEASES / previous if isinstance(previous, str) and VERSION.fullmatch(previous) else None
        self._point(CURRENT, target if target is not None and target.is_dir() else None)
        self._write_state({**state, "state": "rolled-back", "reason": "interrupted during its health check"})
        self.restart()
        return f"rolled back to {previous} (an update was interrupted during its health check)"

    # --- building a release -----------------------------------------------------------------------------------------

    def _build(self, bundle: VerifiedBundle) -> Path:
        manifest = bundle.manifest
        release = self.root / RELEASES / manifest.version
        if (release / MANIFEST).is_file() and (release / MANIFEST).read_bytes() == bundle.manifest_bytes:
            return release
        building = bundle.directory / "release"
        building.mkdir()
        command = [
            self.python, "-m", "pip", "install", "--no-index", "--no-deps", "--no-compile", "--quiet",
            "--disable-pip-version-check", "--target", str(building / "site"), *map(str, bundle.wheels),
        ]  # fmt: skip
        try:
            result = subprocess.run(  # noqa: S603 - our interpreter, verified wheels
                command, capture_output=True, text=True, timeout=PIP_TIMEOUT_S, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise UpdateError("installing the wheels took too long; the running version is unchanged") from exc
        if result.returncode != 0:
            tail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
            raise UpdateError(f"the wheels did not install ({tail[0]}); the running version is unchanged")
        module, function = manifest.entry.split(":")
        launcher = building / "bin" / manifest.command
        launcher.parent.mkdir()
        launcher.write_text(LAUNCHER.format(python=self.python, module=module, function=function))
        launcher.chmod(0o755)
        (building / MANIFEST).write_bytes(bundle.manifest_bytes)
        (self.root / RELEASES).mkdir(exist_ok=True)
        if release.exists():  # a different build of the same version that never ran: replaced whole
            if self._link_target(CURRENT) == release:
                raise UpdateError(f"version {manifest.version} is running with another manifest: bump the version")
            shutil.rmtree(release)
        building.replace(release)
        return release

    # --- the update -------------------------------------------------------------------------------------------------

    def install(self, bundle_path: Path) -> UpdateOutcome:
        """Verify, install beside, switch, check; roll back by itself on a failed check (RolledBackError)."""
        self.recover()
        return self._install(bundle_path)

    def _install(self, bundle_path: Path) -> UpdateOutcome:
        staging = self.root / TMP / f"bundle-{os.getpid()}-{time.monotonic_ns()}"
        try:
            bundle = open_bundle(bundle_path, self.release_key, staging)
            return self._switch(bundle)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def _switch(self, bundle: VerifiedBundle) -> UpdateOutcome:
        version = bundle.manifest.version
        old = self._link_target(CURRENT)
        old_version = old.name if old is not None else None
        if old_version == version and (self.root / CURRENT / MANIFEST).read_bytes() == bundle.manifest_bytes:
            return UpdateOutcome(version, old_version, changed=False)
        release = self._build(bundle)
        self._write_state({"state": "trying", "version": version, "previous": old_version, "at": self.clock()})
        self._point(CURRENT, release)
        log.info("switched to %s (from %s); checking health", version, old_version)
        self.restart()
        switched_at = self.clock()  # after the restart: nothing the old version still wrote counts for the new
        verdict = run_checks(
            self.checks(switched_at), deadline_s=self.deadline_s, monotonic=self.monotonic, wait=self.wait
        )
        if not verdict.healthy:
            self._point(CURRENT, old)
            self.restart()
            self._write_state({
                "state": "rolled-back", "version": version, "previous": old_version, "at": self.clock(),
                "reasons": verdict.reasons,
            })  # fmt: skip
            shutil.rmtree(release, ignore_errors=True)
            log.warning("version %s failed its health check, back to %s: %s", version, old_version, verdict.reasons)
            raise RolledBackError(
                f"version {version} failed its health check and was rolled back to {old_version or 'nothing'}: "
                + "; ".join(f"{name}: {reason}" for name, reason in verdict.reasons.items()),
                verdict.reasons,
            )
        self._point(PREVIOUS, old)
        self._write_state({"state": "installed", "version": version, "previous": old_version, "at": self.clock()})
        self._prune()
        log.info("version %s is healthy", version)
        return UpdateOutcome(version, old_version, changed=True)

    def _prune(self) -> None:
        keep = {self._link_target(CURRENT), self._link_target(PREVIOUS)}
        for release in (self.root / RELEASES).iterdir():
            if release not in keep:
                shutil.rmtree(release, ignore_errors=True)

    def install_from_url(self, url: str, sha256: str, *, client: httpx.Client | None = None) -> UpdateOutcome:
        """The hub's ``update`` command: download (bounded), check the SHA-256 it gave, then :meth:`install`."""
        if not HEX_SHA256.fullmatch(sha256):
            raise BundleError("the update command's sha256 is not a hex SHA-256")
        self.recover()
        target = self.root / TMP / f"download-{os.getpid()}-{time.monotonic_ns()}.bundle"
        own = client is None
        http = client or httpx.Client(timeout=DOWNLOAD_TIMEOUT_S)
        try:
            try:
                with http.stream("GET", url) as response, target.open("xb") as out:
                    response.raise_for_status()
                    size = 0
                    for chunk in response.iter_bytes():
                        size += len(chunk)
                        if size > MAX_DOWNLOAD_BYTES:
                            raise BundleError("the download is larger than any bundle may be")
                        out.write(chunk)
            except httpx.HTTPError as exc:
                raise UpdateError(f"cannot download the bundle ({exc}); the running version is unchanged") from exc
            if sha256_file(target) != sha256:
                raise BundleError("the downloaded bundle does not match the SHA-256 of the update command: refused")
            return self._install(target)
        finally:
            if own:
                http.close()
            target.unlink(missing_ok=True)


def read_manifest_of(root: Path, version: str) -> Manifest | None:
    """The manifest of an installed release."""
    try:
        return parse_manifest((root / RELEASES / version / MANIFEST).read_bytes())
    except (OSError, BundleError):
        return None
