"""``gridpass flash ...``: prepare a terminal's SD card (or image), enrol it at the hub, flash its signal board."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn

from cli.errors import EXIT_INPUT, EXIT_USAGE, fail, warn
from hardware.flash.enrol_queue import EnrolQueue, default_dir
from hardware.flash.errors import FlashError
from hardware.flash.firstboot import BOOT_MOUNT, Wifi
from hardware.flash.profiles import load_base
from hardware.flash.tool import STEPS, FlashOptions, flash, hub_enrol

app = typer.Typer(help="Flashing: prepare a terminal's SD card, enrol it, flash its board.", no_args_is_help=True)

TOKEN_ENV = "GRIDPASS_HUB_TOKEN"  # noqa: S105 - the name of the variable, not a token
DEFAULT_BROKER_PORT = 8883
QueueOption = Annotated[
    Path | None, typer.Option("--queue-dir", help="Where enrolments wait for the hub (default: ~/.local/share).")
]
TokenOption = Annotated[
    Path | None,
    typer.Option("--token-file", help=f"File holding the hub's enrolment token (or set {TOKEN_ENV})."),
]


def _token(token_file: Path | None) -> str:
    if token_file is not None:
        try:
            token = token_file.read_text().strip()
        except OSError as exc:
            fail(f"cannot read the token file {token_file}: {exc.strerror}")
    else:
        token = os.environ.get(TOKEN_ENV, "").strip()
    if not token:
        fail(f"no enrolment token: give --token-file or set {TOKEN_ENV}", EXIT_USAGE)
    return token


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        fail(f"cannot read the {what} {path}: {exc.strerror}")


def _broker(hub: str, broker: str | None) -> tuple[str, int]:
    if broker is None:
        host = hub.split("://", 1)[-1].split("/", 1)[0].rsplit(":", 1)[0].strip("[]")
        return host, DEFAULT_BROKER_PORT
    host, _, port = broker.rpartition(":")
    if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        fail(f"--broker must be HOST:PORT, not {broker!r}", EXIT_USAGE)
    return host.strip("[]"), int(port)


@app.command("card")
def card(
    target: Annotated[Path, typer.Argument(help="The mounted boot partition of the SD card, or a Pi OS .img file.")],
    profile: Annotated[str, typer.Option(help="scanner, camera, handheld, or a .toml file of config sections.")],
    site: Annotated[str, typer.Option(help="Site code, e.g. SH-PD-1.")],
    list_id: Annotated[str, typer.Option(help="The district's revocation list id, e.g. CN-SH-PD.")],
    hub: Annotated[str, typer.Option(help="The hub's address, e.g. https://hub.example:8443.")],
    root_key: Annotated[Path, typer.Option(help="The district root PUBLIC key (root.pub.pem).")],
    grid_cell: Annotated[str, typer.Option(help="Grid cell code of the site.")] = "",
    broker: Annotated[str | None, typer.Option(help="Broker HOST:PORT (default: the hub's host, 8883).")] = None,
    ca: Annotated[Path | None, typer.Option(help="The hub's CA certificate (TLS of API and broker).")] = None,
    release_key: Annotated[Path | None, typer.Option(help="The release PUBLIC key (for updates).")] = None,
    token_file: TokenOption = None,
    wifi_ssid: Annotated[str | None, typer.Option(help="Wi-Fi network name (leave out for Ethernet).")] = None,
    wifi_psk_file: Annotated[Path | None, typer.Option(help="File holding the Wi-Fi password.")] = None,
    wifi_country: Annotated[str, typer.Option(help="Wi-Fi country code.")] = "CN",
    device_id: Annotated[str | None, typer.Option("--id", help="Device id (default: from profile and site).")] = None,
    metrics_port: Annotated[int | None, typer.Option(help="Metrics port (0: off; default: profile's).")] = None,
    labels: Annotated[Path, typer.Option(help="Folder for the label PNGs.")] = Path(),
    board: Annotated[bool, typer.Option(help="Flash the signal board when one is attached over USB.")] = True,
    boot_mount: Annotated[str, typer.Option(help="Where the Pi mounts its boot partition (/boot before Bookworm).")] = (
        BOOT_MOUNT
    ),
    queue_dir: QueueOption = None,
) -> None:
    """Write a terminal's first-boot configuration, enrol it at the hub (queued if unreachable), flash its board.

    Safe to run again after any failure: the card remembers its device, so a rerun finishes the same device.
    """
    logging.basicConfig(level=logging.WARNING, format="%(name)s %(message)s")
    token = _token(token_file)
    wifi = None
    if wifi_ssid is not None:
        if wifi_psk_file is None:
            fail("--wifi-ssid needs --wifi-psk-file", EXIT_USAGE)
        psk = _read(wifi_psk_file, "Wi-Fi password file").decode(errors="replace").strip()
    broker_host, broker_port = _broker(hub, broker)
    console = Console(stderr=True)
    try:
        if wifi_ssid is not None:
            wifi = Wifi(wifi_ssid, psk, wifi_country)
        profile_name, base = load_base(profile)
        options = FlashOptions(
            target=target, profile_name=profile_name, profile=base, site=site, grid_cell=grid_cell, list_id=list_id,
            hub_url=hub, broker_host=broker_host, broker_port=broker_port,
            root_key_pem=_read(root_key, "root key"), label_dir=labels, ca_file=ca, wifi=wifi, device_id=device_id,
            metrics_port=metrics_port, boot_mount=boot_mount, board=board,
            release_key_pem=_read(release_key, "release key") if release_key is not None else None,
        )  # fmt: skip
        with Progress(
            TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
            console=console, transient=True,
        ) as progress:  # fmt: skip
            task = progress.add_task("flashing", total=len(STEPS))

            def report(step: str, detail: str) -> None:
                progress.console.print(f"[green]✓[/] {step}: {detail}")
                progress.update(task, advance=1, description=step)

            result = flash(
                options, queue=EnrolQueue(queue_dir or default_dir()), enrol=hub_enrol(token), now=time.time,
                report=report,
            )  # fmt: skip
    except FlashError as exc:
        fail(f"{exc}\nNothing is lost: fix that and run the same command again.", EXIT_INPUT)
    for device, reason in result.queue.refused:
        warn(f"queued enrolment of {device} refused: {reason}")
    if result.queue.delivered:
        print(f"also delivered queued enrolments: {', '.join(result.queue.delivered)}")
    print(result.label_text)
    print(f"device {result.device_id}: enrolment {result.enrolment}; board {result.board}; label {result.label_png}")
    if result.enrolment == "queued":
        warn("the hub could not be reached: run 'gridpass flash sync-queue' when it can (or flash the next card)")


@app.command("sync-queue")
def sync_queue(token_file: TokenOption = None, queue_dir: QueueOption = None) -> None:
    """Deliver the enrolments queued while the hub could not be reached."""
    token = _token(token_file)
    queue = EnrolQueue(queue_dir or default_dir())
    result = queue.deliver(hub_enrol(token))
    for device in result.delivered:
        print(f"delivered: {device}")
    for device in result.waiting:
        print(f"still waiting (hub unreachable): {device}")
    for device, reason in [*result.refused, *result.failed]:
        warn(f"{device}: {reason}")
    if result.refused or result.failed:
        raise typer.Exit(EXIT_INPUT)


@app.command("queue")
def show_queue(queue_dir: QueueOption = None) -> None:
    """List the enrolments waiting for their hub."""
    for device in EnrolQueue(queue_dir or default_dir()).pending():
        print(device)
