"""The small messages of the sync contract besides record batches: device state (birth, last will, clean stop),
the hub's acknowledgements, commands and their results. CBOR maps with an explicit version, strictly parsed.

State messages are signed by the device key (COSE_Sign1, EdDSA, like batches) so the hub believes a birth only from
the device it enrolled. Acks and commands come from the hub; the broker lets no one else publish under a device's
``down/`` (sync spec), so they carry no signature of their own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ed25519

from protocol.codec import cbor_dumps, cbor_loads
from protocol.cose import CoseError, decode_sign1, encode_sign1
from protocol.envelope import BOOT_ID_BYTES, MAX_SEQ
from protocol.keys import Alg, kid_of_public_key, verify
from protocol.reasons import CredentialError
from protocol.topics import Stream, check_device_id

VERSION = 1
MAX_MESSAGE_BYTES = 16 * 1024
MAX_MISSING_RANGES = 64
MAX_TEXT = 128
COMMAND_ID_CHARS = 64


class MessageError(ValueError):
    """A message that is not what its topic carries; the hub and the device count these by topic."""


class DeviceState(StrEnum):
    """What a device's retained state says."""

    ONLINE = "online"
    OFFLINE = "offline"
    """Published by the broker as the last will: the connection was lost (power cut, network, crash)."""
    STOPPED = "stopped"
    """Published by the device itself on a clean stop (reboot, update, shutdown)."""


class Command(StrEnum):
    """What the hub may ask of a device."""

    SYNC_NOW = "sync_now"
    SNAPSHOT_NOW = "snapshot_now"
    ROTATE_KEY = "rotate_key"
    REBOOT = "reboot"
    WIPE = "wipe"
    UPDATE = "update"
    """Install a signed release: ``args["url"]`` and ``args["sha256"]`` (the terminal checks both and the signature)."""
    RESEND = "resend"
    """Send a stream's records again from ``args["from"]`` to ``args["to"]`` (the hub saw a gap)."""
    RENUMBER = "renumber"
    """The terminal's store was replaced: number its unacknowledged records above the hub's ``args`` bases
    (``protocol/identity.py``)."""


@dataclass(frozen=True, slots=True)
class StateMessage:
    """A device's birth (online), its last will (offline) or its clean stop (stopped)."""

    device: str
    state: DeviceState
    boot: bytes
    at: float
    """The device's clock when it wrote the message (for a will: when it connected)."""
    info: dict[str, Any] = field(default_factory=dict)
    """Birth details: firmware, profile, site, grid_cell, backlog per stream, lists held, clock, storage."""


@dataclass(frozen=True, slots=True)
class Ack:
    """The hub has durably stored ``stream`` up to and including ``upto``; ``missing`` ranges it wants again."""

    stream: Stream
    upto: int
    missing: tuple[tuple[int, int], ...] = ()
    hub_time: float | None = None


@dataclass(frozen=True, slots=True)
class CommandMessage:
    """A command with its correlation id; it is void after ``expires``."""

    id: str
    command: Command
    args: dict[str, Any] = field(default_factory=dict)
    expires: float | None = None


@dataclass(frozen=True, slots=True)
class CommandResult:
    """What a device answers to a command."""

    id: str
    ok: bool
    detail: str = ""


def _map(data: bytes) -> dict[str, Any]:
    if len(data) > MAX_MESSAGE_BYTES:
        raise MessageError(f"message of {len(data)} bytes is larger than {MAX_MESSAGE_BYTES}")
    try:
        body = cbor_loads(data, max_depth=6)
    except CredentialError as exc:
        raise MessageError("not CBOR") from exc
    if not isinstance(body, dict) or body.get("v") != VERSION or isinstance(body.get("v"), bool):
        raise MessageError("not a version 1 message")
    if not all(isinstance(key, str) for key in body):
        raise MessageError("keys must be text")
    return body


def _uint(value: object, what: str, limit: int = MAX_SEQ) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= limit:
        raise MessageError(f"{what} is not an integer in 0..{limit}")
    return value


def _time(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise MessageError(f"{what} is not a time")
    return float(value)


def _text(value: object, what: str, limit: int = MAX_TEXT) -> str:
    if not isinstance(value, str) or len(value) > limit:
        raise MessageError(f"{what} is not a short text")
    return value


# --- state ------------------------------------------------------------------------------------------------------


def seal_state(message: StateMessage, device_key: ed25519.Ed25519PrivateKey) -> bytes:
    """Encode and sign a state message."""
    if len(message.boot) != BOOT_ID_BYTES:
        raise MessageError("boot id is 16 bytes")
    body = {
        "v": VERSION,
        "dev": check_device_id(message.device),
        "state": DeviceState(message.state).value,
        "boot": message.boot,
        "at": message.at,
        "info": message.info,
    }
    data = encode_sign1(cbor_dumps(body), device_key)
    if len(data) > MAX_MESSAGE_BYTES:
        raise MessageError("state message too large: send fewer details")
    return data


def open_state(data: bytes, device_key: ed25519.Ed25519PublicKey, *, device: str) -> StateMessage:
    """Verify a state message under the key enrolled for ``device`` (the topic's device)."""
    if len(data) > MAX_MESSAGE_BYTES:
        raise MessageError("state message too large")
    try:
        message = decode_sign1(data, max_depth=8)
        kid = message.kid(reject_mismatch=True)
    except CoseError as exc:
        raise MessageError(f"not a signed state message ({exc})") from exc
    if message.alg != Alg.EDDSA or kid != kid_of_public_key(device_key):
        raise MessageError(f"state not signed with {device}'s enrolled key")
    if not verify(device_key, Alg.EDDSA, message.to_be_signed(), message.signature):
        raise MessageError(f"state signature does not verify under {device}'s key")
    body = _map(message.payload)
    if body.get("dev") != device:
        raise MessageError("state names another device than its topic")
    boot = body.get("boot")
    if not isinstance(boot, bytes) or len(boot) != BOOT_ID_BYTES:
        raise MessageError("bad boot id")
    info = body.get("info", {})
    if not isinstance(info, dict):
        raise MessageError("info is not a map")
    try:
        state = DeviceState(_text(body.get("state"), "state"))
    except ValueError as exc:
        raise MessageError("unknown state") from exc
    return StateMessage(device, state, boot, _time(body.get("at"), "at"), info)


# --- acks ---------------------------------------------------------------------------------------------------------


def encode_ack(ack: Ack) -> bytes:
    """Encode an ack."""
    body: dict[str, Any] = {"v": VERSION, "stream": Stream(ack.stream).value, "upto": ack.upto}
    if ack.missing:
        body["missing"] = [list(r) for r in ack.missing[:MAX_MISSING_RANGES]]
    if ack.hub_time is not None:
        body["hub_time"] = ack.hub_time
    return cbor_dumps(body)


def parse_ack(data: bytes) -> Ack:
    """Parse an ack."""
    body = _map(data)
    try:
        stream = Stream(_text(body.get("stream"), "stream"))
    except ValueError as exc:
        raise MessageError("unknown stream") from exc
    missing_raw = body.get("missing", [])
    if not isinstance(missing_raw, list) or len(missing_raw) > MAX_MISSING_RANGES:
        raise MessageError("missing is not a short list of ranges")
    missing = []
    for item in missing_raw:
        if not isinstance(item, list) or len(item) != 2:
            raise MessageError("a missing range is not [first, last]")
        first, last = _uint(item[0], "range start"), _uint(item[1], "range end")
        if not 0 < first <= last:
            raise MessageError("a missing range is empty or reversed")
        missing.append((first, last))
    hub_time = body.get("hub_time")
    return Ack(
        stream,
        _uint(body.get("upto"), "upto"),
        tuple(missing),
        None if hub_time is None else _time(hub_time, "hub_time"),
    )


# --- commands -----------------------------------------------------------------------------------------------------


def encode_command(command: CommandMessage) -> bytes:
    """Encode a command."""
    body: dict[str, Any] = {"v": VERSION, "id": command.id, "cmd": Command(command.command).value, "args": command.args}
    if command.expires is not None:
        body["exp"] = command.expires
    return cbor_dumps(body)


def parse_command(data: bytes) -> CommandMessage:
    """Parse a command."""
    body = _map(data)
    command_id = _text(body.get("id"), "id", COMMAND_ID_CHARS)
    if not command_id:
        raise MessageError("empty command id")
    try:
        command = Command(_text(body.get("cmd"), "cmd"))
    except ValueError as exc:
        raise MessageError("unknown command") from exc
    args = body.get("args", {})
    if not isinstance(args, dict) or not all(isinstance(k, str) for k in args):
        raise MessageError("args is not a map with text keys")
    expires = body.get("exp")
    return CommandMessage(command_id, command, args, None if expires is None else _time(expires, "exp"))


def encode_result(result: CommandResult) -> bytes:
    """Encode a command result."""
    return cbor_dumps({"v": VERSION, "id": result.id, "ok": result.ok, "detail": result.detail[:MAX_TEXT]})


def parse_result(data: bytes) -> CommandResult:
    """Parse a command result."""
    body = _map(data)
    ok = body.get("ok")
    if not isinstance(ok, bool):
        raise MessageError("ok is not a boolean")
    return CommandResult(_text(body.get("id"), "id", COMMAND_ID_CHARS), ok, _text(body.get("detail", ""), "detail"))
