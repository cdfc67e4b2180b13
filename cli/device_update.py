"""``gridpass device update``: install a release bundle on this terminal from a USB stick or a URL, with rollback."""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path
from typing import Annotated

import typer
from cryptography.hazmat.primitives.asymmetric import ed25519

from cli.errors import EXIT_INPUT, EXIT_USAGE, fail
from device.config import ConfigError, load
from device.update.errors import RolledBackError, UpdateError
from device.update.health import (
    HEALTH_DEADLINE_S,
    Check,
    CommandCheck,
    MetricsCheck,
    StatusFileCheck,
    StoreWritableCheck,
)
from device.update.installer import Installer, current_version
from district.keyfiles import KeyFileError, read_public

RELEASE_ROOT = Path("/opt/gridpass")
RELEASE_KEY = Path("/etc/gridpass/release.pub.pem")
DEVICE_CONFIG = Path("/etc/gridpass/device.toml")
RESTART_TIMEOUT_S = 60.0
SYSTEMCTL = "/usr/bin/systemctl"


def _systemd_restart(unit: str) -> None:
    try:
        subprocess.run(  # noqa: S603 - fixed arguments
            [SYSTEMCTL, "restart", unit],
            check=False,
            timeout=RESTART_TIMEOUT_S,
            capture_output=True,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        logging.getLogger(__name__).warning("restarting %s: %s", unit, exc)


def update(
    bundle: Annotated[Path | None, typer.Option(help="A bundle file (e.g. on a USB stick).")] = None,
    url: Annotated[str | None, typer.Option(help="Download the bundle from here (the hub's update command).")] = None,
    sha256: Annotated[str | None, typer.Option(help="The SHA-256 the download must have (with --url).")] = None,
    root: Annotated[Path, typer.Option(help="Where releases are installed.")] = RELEASE_ROOT,
    release_key: Annotated[Path, typer.Option(help="The release public key.")] = RELEASE_KEY,
    config: Annotated[Path, typer.Option("--config", "-c", help="The terminal's config (for its checks).")] = (
        DEVICE_CONFIG
    ),
    service: Annotated[str, typer.Option(help="The systemd unit of the terminal.")] = "gridpass-device.service",
    deadline: Annotated[float, typer.Option(help="Seconds the new version has to pass its checks.")] = (
        HEALTH_DEADLINE_S
    ),
) -> None:
    """Install a signed release beside the running one, switch, check health, and switch back if it fails."""
    logging.basicConfig(level=logging.INFO, format="%(name)s %(message)s")
    if (bundle is None) == (url is None) or (url is not None and sha256 is None):
        fail("give either --bundle FILE or --url URL --sha256 HEX", EXIT_USAGE)
    try:
        key = read_public(release_key)
    except KeyFileError as exc:
        fail(str(exc))
    if not isinstance(key, ed25519.Ed25519PublicKey):
        fail(f"{release_key} is not an Ed25519 public key")
    try:
        device = load(config)
    except ConfigError as exc:
        fail(str(exc))
    data = device.device.data_dir

    def checks(since: float) -> list[Check]:
        found: list[Check] = [
            CommandCheck("service", [SYSTEMCTL, "is-active", "--quiet", service]),
            StatusFileCheck(data / "status.json", lambda: since),
            StoreWritableCheck(data / "device.db"),
        ]
        if device.metrics.port:
            found.append(MetricsCheck(f"http://127.0.0.1:{device.metrics.port}/metrics"))
        return found

    installer = Installer(root, key, checks=checks, restart=lambda: _systemd_restart(service), deadline_s=deadline)
    try:
        outcome = (
            installer.install(bundle) if bundle is not None else installer.install_from_url(url or "", sha256 or "")
        )
    except RolledBackError as exc:
        fail(str(exc), EXIT_INPUT)
    except UpdateError as exc:
        fail(f"{exc} (running: {current_version(root) or 'none'})", EXIT_INPUT)
    if not outcome.changed:
        print(f"{outcome.version} is already running")
        return
    print(f"updated to {outcome.version} (from {outcome.previous or 'nothing'}); it passed its health check")
