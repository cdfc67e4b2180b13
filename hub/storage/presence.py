"""Presence: what a device's retained state says, kept apart from its activity and the currency of its data.

Ordering rule. Every hub worker receives every state message (plain subscription), each in the broker's order but
at its own pace, and the broker hands a restarted hub the retained state again; a message may therefore be
recorded after a newer one. ``record_state`` decides with the message's boot id and its own timestamp, never the
hub's arrival order:

1. Boots are numbered in the order the hub first saw their boot id (``device_boots``). A message from an older
   boot than the one held is ignored; one from a boot never seen before is the newest boot and always applies.
   The device clock is not used across boots: a terminal without a battery-backed clock may boot with a clock
   older than its last run's.
2. Within the held boot:
   - a birth (``online``) applies unless it is older (its ``at``) than the newest birth already applied, or
     older than a clean stop already applied;
   - the last will (``offline``, written by the device at start and published by the broker when the connection
     is lost) applies unless the device stopped cleanly: a clean stop says more than a lost connection;
   - a clean stop (``stopped``) applies unless it is older than the newest birth.
3. Applying the same message again changes nothing.

A worker that lags may briefly re-apply an older message of the current boot (a will between two births); every
worker applies the last message of the boot too, so the stored state always ends on the device's last word.

``last_activity_at`` (hub clock) moves only for messages the device sent itself and that applied: a birth or a
clean stop received live, and every batch (``ingest.store_batch``). A retained message replayed on subscribe and
the broker's will are not activity.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub.storage.engine import Target, dialect_insert, reading, writing
from hub.storage.errors import UnknownDeviceError
from hub.storage.models import FIRMWARE_LEN, Device, DeviceBoot, Presence
from protocol.messages import DeviceState, StateMessage
from protocol.topics import Stream

MAX_DETAIL_BYTES = 1024
"""The most a ``lists`` or ``clock`` detail of a birth may take once stored; larger ones are left out."""
MAX_DETAIL_DEPTH = 3
MAX_DETAIL_KEY = 64


@dataclass(frozen=True, slots=True)
class PresenceView:
    """One device's presence as stored."""

    device_id: str
    connected: bool
    state: DeviceState | None
    boot_id: str | None
    state_at: float | None
    last_activity_at: float | None
    data_currency_at: float | None
    backlog: dict[str, int] | None
    firmware: str | None
    lists: dict[str, Any] | None
    clock: dict[str, Any] | None
    updated_at: float | None
    storage: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class _Held:
    state: DeviceState | None
    boot_ordinal: int | None
    state_at: float | None
    last_birth_at: float | None


def record_state(target: Target, message: StateMessage, *, now: float, retained: bool = False) -> bool:
    """Record a verified state message of ``message.device``; True when it applied (see the ordering rule).

    ``retained``: the broker replayed it on subscribe rather than the device sending it now.
    """
    device_id = message.device
    boot_id = message.boot.hex()
    with writing(target) as conn:
        if conn.execute(sa.select(Device.id).where(Device.id == device_id)).one_or_none() is None:
            raise UnknownDeviceError(f"no device {device_id!r}")
        held = _lock_presence(conn, device_id)
        ordinal = _boot_ordinal(conn, device_id, boot_id, now)
        if not _applies(held, ordinal, message):
            return False
        same_boot = held.boot_ordinal == ordinal
        values: dict[str, Any] = {
            "state": message.state.value,
            "connected": message.state is DeviceState.ONLINE,
            "boot_id": boot_id,
            "boot_ordinal": ordinal,
            "state_at": message.at,
            "updated_at": now,
        }
        if message.state is DeviceState.ONLINE:
            previous = held.last_birth_at if same_boot else None
            values["last_birth_at"] = message.at if previous is None else max(previous, message.at)
            values.update(_details(message.info))
        elif not same_boot:
            values["last_birth_at"] = None
        if not retained and message.state is not DeviceState.OFFLINE:
            values["last_activity_at"] = _later(Presence.last_activity_at, now)
        conn.execute(sa.update(Presence).where(Presence.device_id == device_id).values(**values))
        return True


def _lock_presence(conn: Connection, device_id: str) -> _Held:
    conn.execute(dialect_insert(conn, Presence).values(device_id=device_id).on_conflict_do_nothing())
    row = conn.execute(
        sa.select(Presence.state, Presence.boot_ordinal, Presence.state_at, Presence.last_birth_at)
        .where(Presence.device_id == device_id)
        .with_for_update()
    ).one()
    return _Held(None if row[0] is None else DeviceState(row[0]), row[1], row[2], row[3])


def _boot_ordinal(conn: Connection, device_id: str, boot_id: str, now: float) -> int:
    """The boot's number in the order first seen; a new boot gets the next one (under the presence row lock)."""
    known = conn.execute(
        sa.select(DeviceBoot.ordinal).where(DeviceBoot.device_id == device_id, DeviceBoot.boot_id == boot_id)
    ).scalar_one_or_none()
    if known is not None:
        return known
    last = conn.execute(
        sa.select(sa.func.max(DeviceBoot.ordinal)).where(DeviceBoot.device_id == device_id)
    ).scalar_one_or_none()
    ordinal = (last or 0) + 1
    conn.execute(sa.insert(DeviceBoot).values(device_id=device_id, boot_id=boot_id, ordinal=ordinal, first_seen_at=now))
    return ordinal


def _applies(held: _Held, ordinal: int, message: StateMessage) -> bool:
    if held.boot_ordinal is None or ordinal > held.boot_ordinal:
        return True
    if ordinal < held.boot_ordinal:
        return False
    at = message.at
    if message.state is DeviceState.ONLINE:
        if held.state is DeviceState.STOPPED and held.state_at is not None and at < held.state_at:
            return False
        return held.last_birth_at is None or at >= held.last_birth_at
    if message.state is DeviceState.OFFLINE:
        return held.state is not DeviceState.STOPPED
    return held.last_birth_at is None or at >= held.last_birth_at


def _later(column: Any, value: float) -> sa.Case[Any]:  # noqa: ANN401 - an ORM column attribute
    """``value`` unless the column already holds a later time (SQL, so concurrent writers never go back)."""
    return sa.case((sa.or_(column.is_(None), column < value), value), else_=column)


def _details(info: dict[str, Any]) -> dict[str, Any]:
    """The birth details the hub keeps, each bounded; anything malformed is left out rather than refused."""
    details: dict[str, Any] = {"backlog": None, "firmware": None, "lists": None, "clock": None, "storage": None}
    backlog = info.get("backlog")
    if isinstance(backlog, dict):
        details["backlog"] = {
            name: count
            for name, count in backlog.items()
            if name in set(Stream) and isinstance(count, int) and not isinstance(count, bool) and count >= 0
        }
    firmware = info.get("fw")
    if isinstance(firmware, str) and 0 < len(firmware) <= FIRMWARE_LEN:
        details["firmware"] = firmware
    for key in ("lists", "clock", "storage"):
        value = info.get(key)
        if isinstance(value, dict) and _plain(value, MAX_DETAIL_DEPTH):
            encoded = json.dumps(value, sort_keys=True, allow_nan=False)
            if len(encoded) <= MAX_DETAIL_BYTES:
                details[key] = json.loads(encoded)
    return details


def _plain(value: object, depth: int) -> bool:
    """JSON-safe scalars, lists and text-keyed maps, at most ``depth`` levels deep."""
    if value is None or isinstance(value, bool | int | str):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if depth <= 0:
        return False
    if isinstance(value, list):
        return all(_plain(item, depth - 1) for item in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and len(k) <= MAX_DETAIL_KEY and _plain(v, depth - 1) for k, v in value.items())
    return False


def touch(conn: Connection, device_id: str, *, now: float, data_at: float | None) -> None:
    """Record activity (a batch arrived at ``now``) and data currency (its newest record's ``at``), never backwards."""
    insert = dialect_insert(conn, Presence).values(device_id=device_id, last_activity_at=now, data_currency_at=data_at)
    update: dict[str, Any] = {"last_activity_at": _later(Presence.last_activity_at, now)}
    if data_at is not None:
        update["data_currency_at"] = _later(Presence.data_currency_at, data_at)
    conn.execute(insert.on_conflict_do_update(index_elements=[Presence.device_id], set_=update))


PRESENCE_COLUMNS = (
    Presence.device_id,
    Presence.connected,
    Presence.state,
    Presence.boot_id,
    Presence.state_at,
    Presence.last_activity_at,
    Presence.data_currency_at,
    Presence.backlog,
    Presence.firmware,
    Presence.lists,
    Presence.clock,
    Presence.updated_at,
    Presence.storage,
)
"""The columns ``presence_view`` reads, in its order."""


def presence_view(row: Sequence[Any]) -> PresenceView:
    """A row of ``PRESENCE_COLUMNS`` as a view."""
    state = row[2]
    return PresenceView(row[0], bool(row[1]), None if state is None else DeviceState(state), *row[3:])


def get_presence(target: Target, device_id: str) -> PresenceView | None:
    """One device's presence (None: nothing heard from it yet)."""
    with reading(target) as conn:
        row = conn.execute(sa.select(*PRESENCE_COLUMNS).where(Presence.device_id == device_id)).one_or_none()
    return None if row is None else presence_view(row)
