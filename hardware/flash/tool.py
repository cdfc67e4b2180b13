"""One flashing run, step by step, safe to run again after a failure at any point.

1. ``card``: open the target (a mounted boot partition or an image file), refuse anything else; claim the card
   (its device id is written first, or read back);
2. ``identity``: the key pair and broker password, made on the card (or read back);
3. ``files``: config, keys, CA, Wi-Fi, unit and first-boot script into ``gridpass/``; ``cmdline.txt`` edited;
4. ``enrolment``: the request is put in the technician's queue first, then delivered to the hub; when the hub
   cannot be reached it stays queued (``gridpass flash sync-queue`` or the next run delivers it). Other queued
   enrolments for the same hub go along;
5. ``board``: the signal board's firmware, when a board is attached;
6. ``label``: a PNG and a terminal rendering of the id's QR code.

``report(step, detail)`` is called after each step (the CLI draws progress from it). Every step is idempotent and
the card's marker says which are done, so a rerun redoes only what is missing and never makes a second device.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hardware.flash import board as board_mod
from hardware.flash import firstboot, state
from hardware.flash.bootfs import DirectoryVolume
from hardware.flash.enrol_queue import Delivery, EnrolQueue, QueuedEnrolment
from hardware.flash.errors import FlashError, HubConflictError, NotABootPartitionError
from hardware.flash.hubapi import EnrolRequest, HubApi
from hardware.flash.image import FatImageVolume
from hardware.flash.label import label_png, terminal_text
from hardware.flash.volume import BootVolume

log = logging.getLogger(__name__)

STEPS = ("card", "identity", "files", "enrolment", "board", "label")
WIFI_UUID_NAMESPACE = uuid.UUID("6f1d9a52-2b7e-4b6a-9d0e-5a8f3c7e1b24")
"""Wi-Fi connection uuids are derived from the device id, so a rerun writes the same file."""


@dataclass(frozen=True, slots=True)
class FlashOptions:
    """Everything the technician gives."""

    target: Path
    profile_name: str
    profile: Mapping[str, Any]
    site: str
    grid_cell: str
    list_id: str
    hub_url: str
    broker_host: str
    broker_port: int
    root_key_pem: bytes
    label_dir: Path
    ca_file: Path | None = None
    wifi: firstboot.Wifi | None = None
    device_id: str | None = None
    metrics_port: int | None = None
    boot_mount: str = firstboot.BOOT_MOUNT
    board: bool = True
    """False: do not look for a signal board."""
    release_key_pem: bytes | None = None
    """The release public key update bundles are checked with."""


@dataclass
class FlashResult:
    """What a run did."""

    device_id: str
    new_card: bool
    enrolment: str
    board: str
    label_png: Path
    label_text: str
    queue: Delivery = field(default_factory=Delivery)


Enrol = Callable[[QueuedEnrolment], bool]
Report = Callable[[str, str], None]


def open_volume(target: Path) -> BootVolume:
    """A mounted boot partition (folder) or an image file; anything else is refused before any write."""
    if target.is_dir():
        return DirectoryVolume(target)
    if target.is_file():
        return FatImageVolume(target)
    if target.exists():
        return DirectoryVolume(target)  # refuses block devices and the like with its own message
    raise NotABootPartitionError(f"{target} does not exist: give the mounted boot partition or an image file")


def hub_enrol(token: str) -> Enrol:
    """Deliver a queued enrolment to its hub with ``token``."""

    def enrol(item: QueuedEnrolment) -> bool:
        with HubApi(item.hub_url, token, ca_file=Path(item.ca_file) if item.ca_file else None) as api:
            return api.enrol(item.request)

    return enrol


@dataclass(frozen=True, slots=True)
class BoardHooks:
    """How the board is found and flashed (real ones by default; tests hand in fakes)."""

    find: Callable[[], str | None] = board_mod.find_board
    flash: Callable[[str, board_mod.BoardFirmware], str] = board_mod.flash_board
    firmware: Callable[[], board_mod.BoardFirmware] = board_mod.read_manifest


def _write_files(volume: BootVolume, card: state.CardState, options: FlashOptions) -> dict[str, Any]:
    ca_pem = options.ca_file.read_bytes() if options.ca_file is not None else None
    hub = firstboot.Hub(options.broker_host, options.broker_port, ca_pem)
    config = firstboot.device_config(
        options.profile, device_id=card.device_id, profile_name=card.profile, site=card.site,
        grid_cell=card.grid_cell, list_id=options.list_id, hub=hub, metrics_port=options.metrics_port,
    )  # fmt: skip
    files = firstboot.card_files(
        config, root_key_pem=options.root_key_pem, hub=hub, wifi=options.wifi,
        wifi_uuid=uuid.uuid5(WIFI_UUID_NAMESPACE, card.device_id), release_key_pem=options.release_key_pem,
    )  # fmt: skip
    for path, data in files.items():
        volume.write(path, data, private=path == firstboot.WIFI_FILE)
    if options.wifi is None:
        volume.remove(firstboot.WIFI_FILE)
        volume.remove(firstboot.WIFI_COUNTRY_FILE)
    if options.ca_file is None:
        volume.remove(firstboot.CA_FILE)
    if options.release_key_pem is None:
        volume.remove(firstboot.RELEASE_KEY_FILE)
    cmdline = volume.read(firstboot.CMDLINE)
    if cmdline is None:
        raise NotABootPartitionError(f"{volume.description} has no cmdline.txt")
    edited, chained = firstboot.edit_cmdline(cmdline, options.boot_mount)
    if chained is not None:
        volume.write(firstboot.CHAIN_FILE, (chained + "\n").encode())
    if edited != cmdline:
        volume.write(firstboot.CMDLINE, edited)
    return config


def _enrol(
    card: state.CardState, identity: state.Identity, options: FlashOptions, queue: EnrolQueue, enrol: Enrol
) -> tuple[str, Delivery]:
    request = EnrolRequest(
        card.device_id, identity.public_key_pem, card.profile, card.site, card.grid_cell, identity.password
    )
    queue.put(QueuedEnrolment(options.hub_url, request, str(options.ca_file) if options.ca_file else None))
    mine = queue.deliver(enrol, only=card.device_id)
    for device_id, reason in mine.refused:
        raise HubConflictError(f"{reason}: decommission {device_id} at the hub, wipe the card's gridpass folder")
    for _device_id, reason in mine.failed:
        raise FlashError(f"{reason} (the enrolment stays queued; run again or use 'gridpass flash sync-queue')")
    others = Delivery()
    if mine.delivered:
        others = queue.deliver(enrol, hub_url=options.hub_url)
    return ("delivered" if mine.delivered else "queued"), others


def _board(options: FlashOptions, config: Mapping[str, Any], hooks: BoardHooks) -> str:
    if not options.board:
        return "skipped: not asked for"
    signal = config.get("signal", {})
    if "serial" not in (signal.get("indicator"), signal.get("gate")):
        return "skipped: this profile has no signal board"
    device = hooks.find()
    if device is None:
        return "skipped: no signal board attached (plug it in and run again to flash it)"
    version = hooks.flash(device, hooks.firmware())
    return f"flashed: {version} on {device}"


def flash(
    options: FlashOptions, *, queue: EnrolQueue, enrol: Enrol, now: Callable[[], float],
    report: Report = lambda _step, _detail: None, board: BoardHooks | None = None,
) -> FlashResult:  # fmt: skip
    """Prepare the card, enrol the device, flash the board, make the label."""
    volume = open_volume(options.target)
    try:
        card, new = state.claim(
            volume, profile=options.profile_name, site=options.site, grid_cell=options.grid_cell,
            device_id=options.device_id, now=now(),
        )  # fmt: skip
        report("card", f"device {card.device_id} ({'new card' if new else 'card flashed before: same device'})")
        card, identity = state.identity(volume, card)
        report("identity", "key pair and broker password on the card")
        config = _write_files(volume, card, options)
        card = state.record_step(volume, card, "files", "written")
        report("files", f"first-boot files in {volume.description}")
        outcome, others = _enrol(card, identity, options, queue, enrol)
        card = state.record_step(volume, card, "enrolment", outcome)
        report("enrolment", "enrolled at the hub" if outcome == "delivered" else "hub unreachable: enrolment queued")
        board_outcome = _board(options, config, board or BoardHooks())
        card = state.record_step(volume, card, "board", board_outcome.partition(":")[0])
        report("board", board_outcome)
        options.label_dir.mkdir(parents=True, exist_ok=True)
        png = options.label_dir / f"{card.device_id}.png"
        label_png(card.device_id, png)
        card = state.record_step(volume, card, "label", "printed")
        report("label", str(png))
    finally:
        volume.close()
    return FlashResult(card.device_id, new, outcome, board_outcome, png, terminal_text(card.device_id), others)
