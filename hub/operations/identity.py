"""A terminal's identity over time, at the hub: taking its key rotation, and resolving a replaced store.

``accept_rotation`` is called by the ingest for a rotation message on a device's ``result`` topic (the answer to a
``rotate_key`` command sent with ``commands.send``). In ONE transaction, the device row locked: the message must
verify under the enrolled key (old) with the new key's proof of possession, name an open ``rotate_key`` command of
that device; then the enrolled key becomes the new one, the old one is kept in ``device_keys`` with the message that
retired it, the command's result and an audit row are written. Only then is ``rotated`` published to the terminal,
which makes the new key current. From that commit on, the old key verifies nothing of this device (its batches and
states are refused as ``retired_key``). Every hub worker receives the message (``result`` is a plain subscription):
the second finds the key already swapped and answers ``rotated`` again; a terminal that crashed before it heard the
answer sends the message again (signed by the key now retired) and gets the same answer, and nothing else.

``resolve_store`` is an operator's action for a device whose store was replaced (``hub/storage/identity.py``):
audited, then the ``renumber`` command tells the terminal where to continue.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric import ed25519
from sqlalchemy.engine import Connection, Engine

from hub.accounts.roles import Role
from hub.operations.audit import Actor, Outcome, audited, record
from hub.operations.commands import MAX_TTL_S, CommandView, send
from hub.operations.errors import ConflictError, ForbiddenError
from hub.operations.ports import Publisher
from hub.storage import identity
from hub.storage.devices import DeviceStatus
from hub.storage.engine import Target, writing
from hub.storage.models import RESULT_DETAIL_LEN, Device, DeviceCommand, DeviceKey
from protocol.identity import (
    KeyRotation,
    Renumber,
    RotationAnswer,
    RotationError,
    RotationOutcome,
    open_rotation,
    renumber_args,
    rotation_kid,
)
from protocol.keys import KeyFormatError, kid_of_public_key, load_public_key_der
from protocol.messages import Command

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RotationReply:
    """What the ingest does with a rotation message: publish ``answer`` on ``down/cmd``, count ``refusal``."""

    answer: RotationAnswer | None
    refusal: str | None = None
    rotated: bool = False
    """The key was swapped by this call (False for a repeated message answered again)."""


def _key(data: bytes) -> ed25519.Ed25519PublicKey | None:
    try:
        key = load_public_key_der(data)
    except KeyFormatError:
        return None
    return key if isinstance(key, ed25519.Ed25519PublicKey) else None


def accept_rotation(engine: Target, device_id: str, payload: bytes, *, now: float) -> RotationReply:
    """Take (or answer again) a terminal's rotation message; see the module's notes."""
    try:
        kid = rotation_kid(payload)
    except RotationError as exc:
        return RotationReply(None, f"rotation_{exc.problem.value}")
    with writing(engine) as conn:
        row = conn.execute(
            sa.select(Device.public_key, Device.status).where(Device.id == device_id).with_for_update(key_share=True)
        ).one_or_none()
        if row is None or row[1] != DeviceStatus.ENROLLED.value:
            return RotationReply(None, "unknown_device")
        enrolled = _key(bytes(row[0]))
        if enrolled is None:
            return RotationReply(None, "unknown_device")
        if kid == kid_of_public_key(enrolled):
            try:
                rotation = open_rotation(payload, enrolled, device=device_id)
            except RotationError as exc:
                return RotationReply(None, f"rotation_{exc.problem.value}")
            return _swap(conn, device_id, bytes(row[0]), rotation, payload, now=now)
        return _again(conn, device_id, kid, enrolled, payload)


def _again(
    conn: Connection, device_id: str, kid: bytes, enrolled: ed25519.Ed25519PublicKey, payload: bytes
) -> RotationReply:
    """A rotation signed by a key already retired: answered ``rotated`` again only when it is the very rotation that
    moved the device to the key enrolled now (the terminal did not hear the first answer)."""
    enrolled_kid = kid_of_public_key(enrolled)
    retired = conn.execute(
        sa.select(DeviceKey.public_key)
        .where(
            DeviceKey.device_id == device_id,
            DeviceKey.kid == kid.hex(),
            DeviceKey.replaced_by == enrolled_kid.hex(),
        )
        .order_by(DeviceKey.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    old = None if retired is None else _key(bytes(retired))
    if old is None:
        return RotationReply(None, "rotation_wrong_key")
    try:
        rotation = open_rotation(payload, old, device=device_id)
    except RotationError as exc:
        return RotationReply(None, f"rotation_{exc.problem.value}")
    if kid_of_public_key(rotation.new_key) != enrolled_kid:
        return RotationReply(None, "rotation_wrong_key")
    return RotationReply(RotationAnswer(rotation.command, RotationOutcome.ROTATED, enrolled_kid, "rotated before"))


def _swap(
    conn: Connection, device_id: str, old_spki: bytes, rotation: KeyRotation, payload: bytes, *, now: float
) -> RotationReply:
    new_kid = kid_of_public_key(rotation.new_key)
    command = conn.execute(
        sa.select(
            DeviceCommand.device_id,
            DeviceCommand.command,
            DeviceCommand.result_at,
            DeviceCommand.expires_at,
            DeviceCommand.created_by,
        )
        .where(DeviceCommand.id == rotation.command)
        .with_for_update()
    ).one_or_none()
    problem = None
    if command is None or command[0] != device_id or command[1] != Command.ROTATE_KEY.value:
        problem = "no rotate_key command of this device has this id"
    elif command[2] is not None:
        problem = "this command was answered already"
    elif command[3] is not None and command[3] < now:
        problem = "the command expired"
    if problem is not None:
        if command is not None and command[0] == device_id and command[2] is None:
            _answer(conn, rotation.command, ok=False, detail=f"rotation refused: {problem}", now=now)
        log.warning("refused a key rotation of %s: %s", device_id, problem)
        answer = RotationAnswer(rotation.command, RotationOutcome.REFUSED, new_kid, problem)
        return RotationReply(answer, "rotation_refused")
    identity.retire_key(
        conn,
        device_id,
        old_key=old_spki,
        old_kid=rotation.old_kid,
        new_key=rotation.new_spki,
        new_kid=new_kid,
        command_id=rotation.command,
        rotation=payload,
        now=now,
    )
    detail = f"key {rotation.old_kid.hex()} -> {new_kid.hex()}"
    _answer(conn, rotation.command, ok=True, detail=f"rotated: {detail}", now=now)
    record(
        conn,
        Actor(str(command[4]) if command is not None else "?", Role.OPERATOR),
        "device.key_rotated",
        f"device:{device_id}",
        Outcome.OK,
        now=now,
        detail=f"{detail} (command {rotation.command})",
    )
    log.info("device %s rotated its key: %s", device_id, detail)
    return RotationReply(RotationAnswer(rotation.command, RotationOutcome.ROTATED, new_kid), rotated=True)


def _answer(conn: Connection, command_id: str, *, ok: bool, detail: str, now: float) -> None:
    conn.execute(
        sa.update(DeviceCommand)
        .where(DeviceCommand.id == command_id, DeviceCommand.result_at.is_(None))
        .values(result_ok=ok, result_detail=detail[:RESULT_DETAIL_LEN], result_at=now)
    )


# --- replaced stores ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StoreResolution:
    """What an operator's resolution did, and the ``renumber`` command sent to the terminal."""

    resolution: identity.Resolution
    command: CommandView


def resolve_store(
    engine: Engine, actor: Actor, device_id: str, *, now: float, publisher: Publisher | None
) -> StoreResolution:
    """Take a device's replaced store: its records continue above what the hub holds (audited), and the terminal is
    told so (a ``renumber`` command, alive for the longest a command may live). Calling it again before the terminal
    renumbered sends the same command again."""
    with audited(engine, actor, "device.store_resolved", f"device:{device_id}", now=now) as scope:
        if not actor.role.allows(Role.OPERATOR):
            raise ForbiddenError("resolving a replaced store needs the operator role")
        try:
            resolution = identity.resolve(scope.conn, device_id, by=actor.name, now=now)
        except identity.NothingToResolveError as exc:
            raise ConflictError(str(exc)) from exc
        bases = ", ".join(f"{stream.value} > {base}" for stream, base in resolution.bases.items()) or "from 1"
        lost = ", ".join(f"{stream.value} {n}" for stream, n in resolution.lost.items()) or "none"
        scope.detail = f"store {resolution.tag} continues {bases}; old records never received: {lost}"
    args = renumber_args(Renumber(resolution.tag, resolution.bases))
    command = send(engine, actor, device_id, Command.RENUMBER, args, now=now, publisher=publisher, ttl_s=MAX_TTL_S)
    return StoreResolution(resolution, command)
