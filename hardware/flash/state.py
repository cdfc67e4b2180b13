"""The card's own record of its flashing: which device it is, written first, so that any rerun is the same device.

``gridpass/flash-state.json`` on the boot partition holds the device id (written before anything else), then the
public half of the key made for it (written right after the private key and the broker password are on the card,
and before the hub hears of the key), then the steps done. A rerun after a failure at any point reads it back:
same id, same key, same password, so one card never becomes two devices. Parsing is strict and bounded.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass, field, replace
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ed25519

from hardware.flash.errors import CardStateError
from hardware.flash.volume import BootVolume, read_replaced
from protocol.keys import KeyFormatError, load_private_key_pem, private_key_pem, public_key_pem
from protocol.topics import DEVICE_ID

FOLDER = "gridpass"
MARKER = f"{FOLDER}/flash-state.json"
KEY_FILE = f"{FOLDER}/device.key.pem"
PUBLIC_KEY_FILE = f"{FOLDER}/device.pub.pem"
PASSWORD_FILE = f"{FOLDER}/broker.pass"
FORMAT = 1
MAX_MARKER_BYTES = 16 * 1024
MAX_FIELD_CHARS = 64
PASSWORD_BYTES = 24
"""Entropy of a broker password (base64url, 32 characters)."""
ID_SUFFIX_BYTES = 3
STEPS = frozenset({"files", "enrolment", "board", "label"})
_SLUG = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True, slots=True)
class CardState:
    """What the card says about itself."""

    device_id: str
    profile: str
    site: str
    grid_cell: str
    created_at: float
    public_key_pem: str | None = None
    steps: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> bytes:
        """The marker file's bytes."""
        document = {
            "format": FORMAT,
            "device_id": self.device_id,
            "profile": self.profile,
            "site": self.site,
            "grid_cell": self.grid_cell,
            "created_at": self.created_at,
            "public_key_pem": self.public_key_pem,
            "steps": dict(sorted(self.steps.items())),
        }
        return (json.dumps(document, indent=1) + "\n").encode()


def _text(document: dict[str, Any], key: str, *, empty: bool = False) -> str:
    value = document.get(key)
    if not isinstance(value, str) or len(value) > MAX_FIELD_CHARS or (not empty and not value):
        raise ValueError(f"{key} is missing or not a short text")
    return value


def parse_state(data: bytes) -> CardState:
    """Parse a marker file strictly; ValueError says what is wrong."""
    if len(data) > MAX_MARKER_BYTES:
        raise ValueError("marker file too large")
    try:
        document = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError("marker file is not JSON") from exc
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise ValueError(f"marker file is not format {FORMAT}")
    device_id = _text(document, "device_id")
    if not DEVICE_ID.fullmatch(device_id):
        raise ValueError("device_id is not a valid device id")
    created_at = document.get("created_at")
    if not isinstance(created_at, int | float) or isinstance(created_at, bool):
        raise ValueError("created_at is not a number")  # noqa: TRY004 - a parse error of the file, not a type error
    public = document.get("public_key_pem")
    if public is not None and (not isinstance(public, str) or len(public) > MAX_MARKER_BYTES // 4):
        raise ValueError("public_key_pem is not a PEM text")
    steps = document.get("steps")
    if not isinstance(steps, dict) or not all(
        key in STEPS and isinstance(value, str) and len(value) <= MAX_FIELD_CHARS for key, value in steps.items()
    ):
        raise ValueError("steps is not a map of known steps")
    return CardState(
        device_id, _text(document, "profile"), _text(document, "site"), _text(document, "grid_cell", empty=True),
        float(created_at), public, dict(steps),
    )  # fmt: skip


def _valid_state(data: bytes) -> bool:
    try:
        parse_state(data)
    except ValueError:
        return False
    return True


def _valid_key(data: bytes) -> bool:
    try:
        return isinstance(load_private_key_pem(data), ed25519.Ed25519PrivateKey)
    except KeyFormatError:
        return False


def read_state(volume: BootVolume) -> CardState | None:
    """The card's state, None for a card never flashed; a damaged marker is refused."""
    data = read_replaced(volume, MARKER, _valid_state)
    if data is None:
        if volume.exists(MARKER):
            raise CardStateError(
                f"{MARKER} on {volume.description} is damaged: the card's identity is unknown; "
                f"wipe the {FOLDER} folder only if this device was never enrolled"
            )
        return None
    return parse_state(data)


def write_state(volume: BootVolume, state: CardState) -> CardState:
    """Replace the marker (see ``volume`` for how a crash mid-write is survived)."""
    volume.write(MARKER, state.to_json())
    return state


def new_device_id(profile: str, site: str) -> str:
    """``{profile}-{site}-{6 hex}``, e.g. ``scanner-sh-pd-1-3fa9c2``, within the device id rules."""
    slug = _SLUG.sub("-", site.lower()).strip("-")[:40] or "site"
    return f"{profile}-{slug}-{secrets.token_hex(ID_SUFFIX_BYTES)}"


def claim(
    volume: BootVolume, *, profile: str, site: str, grid_cell: str, device_id: str | None, now: float
) -> tuple[CardState, bool]:
    """The card's device (``True``: newly claimed, marker written before anything else)."""
    existing = read_state(volume)
    if existing is not None:
        if device_id is not None and device_id != existing.device_id:
            raise CardStateError(
                f"this card is already device {existing.device_id}; it will not become {device_id} "
                "(one card, one device): flash another card, or decommission the old device and wipe the card"
            )
        if (existing.profile, existing.site, existing.grid_cell) != (profile, site, grid_cell):
            raise CardStateError(
                f"this card is already device {existing.device_id} ({existing.profile} at {existing.site} "
                f"{existing.grid_cell}): run again with those values, or decommission it and wipe the card"
            )
        return existing, False
    chosen = device_id or new_device_id(profile, site)
    if not DEVICE_ID.fullmatch(chosen):
        raise CardStateError(f"{chosen!r} is not a valid device id (lower-case letters, digits and '-', 1-64)")
    return write_state(volume, CardState(chosen, profile, site, grid_cell, now)), True


@dataclass(frozen=True, slots=True)
class Identity:
    """The device's key and broker password, as they are on the card."""

    key: ed25519.Ed25519PrivateKey
    password: str

    @property
    def public_key_pem(self) -> str:
        """The public half, PEM."""
        return public_key_pem(self.key.public_key()).decode()


def identity(volume: BootVolume, state: CardState) -> tuple[CardState, Identity]:
    """The card's key pair and password: made here on first use (private key on the card only), read back after."""
    key_data = read_replaced(volume, KEY_FILE, _valid_key)
    password_data = read_replaced(volume, PASSWORD_FILE, lambda data: len(data.strip()) >= PASSWORD_BYTES)
    if state.public_key_pem is not None:
        if key_data is None or password_data is None:
            raise CardStateError(
                f"the card of device {state.device_id} no longer holds its key or broker password (it has booted "
                "once and moved them into the terminal, or was edited): this card is done; to start over, "
                f"decommission {state.device_id} at the hub and wipe the {FOLDER} folder"
            )
        key = load_private_key_pem(key_data)
        assert isinstance(key, ed25519.Ed25519PrivateKey)  # noqa: S101 - _valid_key checked it
        found = Identity(key, password_data.decode().strip())
        if found.public_key_pem != state.public_key_pem:
            raise CardStateError(
                f"the key on the card is not the one recorded for device {state.device_id}: the card was edited; "
                f"decommission {state.device_id} and wipe the {FOLDER} folder"
            )
        return state, found
    # No public key recorded: the hub has never seen a key of this card, so a fresh (or half-written) one may be made.
    new_key = ed25519.Ed25519PrivateKey.generate()
    made = Identity(new_key, secrets.token_urlsafe(PASSWORD_BYTES))
    volume.write(KEY_FILE, private_key_pem(new_key), private=True)
    volume.write(PASSWORD_FILE, (made.password + "\n").encode(), private=True)
    volume.write(PUBLIC_KEY_FILE, made.public_key_pem.encode())
    return write_state(volume, replace(state, public_key_pem=made.public_key_pem)), made


def record_step(volume: BootVolume, state: CardState, step: str, outcome: str) -> CardState:
    """Note on the card that ``step`` is done with ``outcome``."""
    if step not in STEPS:
        raise ValueError(f"unknown step {step}")
    return write_state(volume, replace(state, steps={**state.steps, step: outcome}))
