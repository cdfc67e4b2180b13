"""Commands to terminals and their results.

``send`` stores the command under a new correlation id (audited in the same transaction), then publishes a
``CommandMessage`` on the device's ``down/cmd``; ``published`` says whether the broker took it. The device answers
on its ``result`` topic; the ingest hands each answer to ``store_result``, which keeps the first answer of the
command's own device (an answer from another device, or to an unknown id, is refused).
"""

from __future__ import annotations

import logging
import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from hub.accounts.roles import Role
from hub.operations.audit import Actor, audited
from hub.operations.errors import (
    ConflictError,
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
    translated,
)
from hub.operations.ports import Publisher
from hub.storage.devices import DeviceStatus
from hub.storage.engine import Target, reading, writing
from hub.storage.models import RESULT_DETAIL_LEN, Device, DeviceCommand
from protocol import topics
from protocol.codec import cbor_dumps
from protocol.messages import Command, CommandMessage, CommandResult, encode_command

log = logging.getLogger(__name__)

COMMAND_TTL_S = 3600.0
"""A command is void this long after it was sent unless the operator says otherwise."""
MAX_TTL_S = 7 * 86400.0
MAX_ARGS = 8
MAX_ARG_KEY = 32
MAX_ARG_TEXT = 256
MAX_ARGS_BYTES = 2048
MAX_PAGE = 200


@dataclass(frozen=True, slots=True)
class CommandView:
    """A command and its result (``result_ok`` None: not answered yet)."""

    id: str
    device_id: str
    command: str
    args: dict[str, Any]
    created_by: str
    created_at: float
    expires_at: float | None
    published: bool
    result_ok: bool | None
    result_detail: str | None
    result_at: float | None


_COLUMNS = (
    DeviceCommand.id, DeviceCommand.device_id, DeviceCommand.command, DeviceCommand.args, DeviceCommand.created_by,
    DeviceCommand.created_at, DeviceCommand.expires_at, DeviceCommand.published, DeviceCommand.result_ok,
    DeviceCommand.result_detail, DeviceCommand.result_at,
)  # fmt: skip


def _view(row: Sequence[Any]) -> CommandView:
    return CommandView(
        row[0], row[1], row[2], dict(row[3] or {}), row[4], row[5], row[6], bool(row[7]), row[8], row[9], row[10]
    )


def check_args(args: Mapping[str, Any]) -> dict[str, Any]:
    """Arguments as the device receives them: at most 8 text keys to scalars, bounded texts, finite numbers."""
    if len(args) > MAX_ARGS:
        raise InvalidInputError(f"at most {MAX_ARGS} arguments")
    checked: dict[str, Any] = {}
    for key, value in args.items():
        if not isinstance(key, str) or not 0 < len(key) <= MAX_ARG_KEY:
            raise InvalidInputError(f"argument names are 1-{MAX_ARG_KEY} characters")
        if isinstance(value, str) and len(value) > MAX_ARG_TEXT:
            raise InvalidInputError(f"argument {key} is longer than {MAX_ARG_TEXT} characters")
        if isinstance(value, float) and not math.isfinite(value):
            raise InvalidInputError(f"argument {key} is not a finite number")
        if isinstance(value, int) and not isinstance(value, bool) and not -(2**63) <= value < 2**63:
            raise InvalidInputError(f"argument {key} is out of range")
        if value is not None and not isinstance(value, str | int | float | bool):
            raise InvalidInputError(f"argument {key} is not a text, number, boolean or null")
        checked[key] = value
    if len(cbor_dumps(checked)) > MAX_ARGS_BYTES:
        raise InvalidInputError(f"the arguments take more than {MAX_ARGS_BYTES} bytes")
    return checked


def send(
    engine: Engine,
    actor: Actor,
    device_id: str,
    command: Command,
    args: Mapping[str, Any],
    *,
    now: float,
    publisher: Publisher | None,
    ttl_s: float = COMMAND_TTL_S,
) -> CommandView:
    """Store, audit and publish a command to an enrolled device."""
    command_id = uuid.uuid4().hex
    with audited(engine, actor, "command.send", f"device:{device_id}", now=now) as scope:
        if not actor.role.allows(Role.OPERATOR):
            raise ForbiddenError("commanding a device needs the operator role")
        if not 0 < ttl_s <= MAX_TTL_S:
            raise InvalidInputError(f"a command lives 1 second to {int(MAX_TTL_S)} seconds")
        checked = check_args(args)
        status = scope.conn.execute(sa.select(Device.status).where(Device.id == device_id)).scalar_one_or_none()
        if status is None:
            raise NotFoundError(f"no device {device_id!r}")
        if status != DeviceStatus.ENROLLED.value:
            raise ConflictError(f"device {device_id} is {status}: only an enrolled device takes commands")
        scope.conn.execute(
            sa.insert(DeviceCommand).values(
                id=command_id, device_id=device_id, command=command.value, args=checked, created_by=actor.name,
                created_at=now, expires_at=now + ttl_s,
            )
        )  # fmt: skip
        scope.detail = f"{command.value} {command_id}"
    message = CommandMessage(command_id, command, checked, expires=now + ttl_s)
    published = publisher is not None and publisher.publish(
        topics.down(device_id, topics.Down.CMD), encode_command(message)
    )
    if published:
        with translated(), writing(engine) as conn:
            conn.execute(sa.update(DeviceCommand).where(DeviceCommand.id == command_id).values(published=True))
    else:
        log.warning("command %s to %s stored but not published: the hub is not connected to the broker", command_id,
                    device_id)  # fmt: skip
    return get_command(engine, command_id)


def get_command(target: Target, command_id: str) -> CommandView:
    """One command by correlation id."""
    with translated(), reading(target) as conn:
        row = conn.execute(sa.select(*_COLUMNS).where(DeviceCommand.id == command_id)).one_or_none()
    if row is None:
        raise NotFoundError(f"no command {command_id!r}")
    return _view(row)


def list_commands(
    target: Target, *, device_id: str | None = None, limit: int = 50, before: float | None = None
) -> list[CommandView]:
    """Newest first, of one device or all."""
    query = (
        sa.select(*_COLUMNS)
        .order_by(DeviceCommand.created_at.desc(), DeviceCommand.id)
        .limit(max(1, min(limit, MAX_PAGE)))
    )
    if device_id is not None:
        query = query.where(DeviceCommand.device_id == device_id)
    if before is not None:
        query = query.where(DeviceCommand.created_at < before)
    with translated(), reading(target) as conn:
        return [_view(row) for row in conn.execute(query)]


def store_result(target: Target, device_id: str, result: CommandResult, *, now: float) -> bool:
    """Keep a device's answer to one of its commands; False when it names no command of that device, or the
    command was answered already."""
    with writing(target) as conn:
        return _store_result(conn, device_id, result, now)


def _store_result(conn: Connection, device_id: str, result: CommandResult, now: float) -> bool:
    updated = conn.execute(
        sa.update(DeviceCommand)
        .where(
            DeviceCommand.id == result.id,
            DeviceCommand.device_id == device_id,
            DeviceCommand.result_at.is_(None),
        )
        .values(result_ok=result.ok, result_detail=result.detail[:RESULT_DETAIL_LEN], result_at=now)
    )
    return bool(updated.rowcount)
