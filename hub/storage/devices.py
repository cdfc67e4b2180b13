"""Devices: enrolment (pre-authorised, or requested and approved by an operator), decommissioning, key lookup.

A device id is also the device's broker user name and never changes owner: a device is enrolled with one Ed25519
key; asking again with the same key changes nothing, with another key is a conflict. A decommissioned id is
retired for good (its records stay; a replacement terminal is enrolled under a new id). Only an enrolled device
has a usable key: a pending or decommissioned one is refused like an unknown one.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric import ed25519
from sqlalchemy.engine import Connection

from hub.storage.engine import Target, dialect_insert, reading, writing
from hub.storage.errors import (
    DeviceConflictError,
    DeviceStateError,
    InvalidValueError,
    UnknownDeviceError,
)
from hub.storage.models import MAX_PUBLIC_KEY_BYTES, Device, check_text
from protocol.keys import KeyFormatError, load_public_key_der
from protocol.topics import TopicError, check_device_id

PROFILES = frozenset({"scanner", "camera", "handheld"})
PLACE_LEN = 64


class DeviceStatus(StrEnum):
    """Where a device is in its life."""

    PENDING = "pending"
    """Asked to join; an operator has not approved it yet."""
    ENROLLED = "enrolled"
    DECOMMISSIONED = "decommissioned"


@dataclass(frozen=True, slots=True)
class DeviceView:
    """A device as stored."""

    id: str
    public_key: bytes
    status: DeviceStatus
    profile: str
    site: str | None
    grid_cell: str | None
    created_at: float
    enrolled_at: float | None
    decommissioned_at: float | None


_COLUMNS = (
    Device.id,
    Device.public_key,
    Device.status,
    Device.profile,
    Device.site,
    Device.grid_cell,
    Device.created_at,
    Device.enrolled_at,
    Device.decommissioned_at,
)


def valid_device_id(device_id: str) -> str:
    """The id itself, if it is a valid device id (``[a-z0-9-]{1,64}``)."""
    try:
        return check_device_id(device_id)
    except TopicError as exc:
        raise InvalidValueError(str(exc)) from exc


def _ed25519_key(public_key: bytes) -> ed25519.Ed25519PublicKey:
    if len(public_key) > MAX_PUBLIC_KEY_BYTES:
        raise InvalidValueError("public key is too long for an Ed25519 SubjectPublicKeyInfo")
    try:
        key = load_public_key_der(public_key)
    except KeyFormatError as exc:
        raise InvalidValueError(f"not a public key: {exc}") from exc
    if not isinstance(key, ed25519.Ed25519PublicKey):
        raise InvalidValueError("device keys are Ed25519")
    return key


def _view(
    row: sa.Row[str, bytes, str, str, str | None, str | None, float, float | None, float | None],
) -> DeviceView:
    return DeviceView(row[0], bytes(row[1]), DeviceStatus(row[2]), *row[3:])


def _select(conn: Connection, device_id: str, *, lock: bool = False) -> DeviceView | None:
    query = sa.select(*_COLUMNS).where(Device.id == device_id)
    if lock:
        # FOR NO KEY UPDATE: does not wait for the foreign-key checks of batches being stored for this device.
        query = query.with_for_update(key_share=True)
    row = conn.execute(query).one_or_none()
    return None if row is None else _view(row)


def enrol(
    target: Target,
    device_id: str,
    public_key: bytes,
    *,
    profile: str,
    now: float,
    site: str | None = None,
    grid_cell: str | None = None,
    approved: bool = True,
) -> DeviceView:
    """Enrol a device (``approved``: pre-authorised, usable at once) or record its request (pending)."""
    valid_device_id(device_id)
    _ed25519_key(public_key)
    if profile not in PROFILES:
        raise InvalidValueError(f"profile must be one of {sorted(PROFILES)}")
    check_text("site", site, PLACE_LEN)
    check_text("grid_cell", grid_cell, PLACE_LEN)
    status = DeviceStatus.ENROLLED if approved else DeviceStatus.PENDING
    with writing(target) as conn:
        conn.execute(
            dialect_insert(conn, Device)
            .values(
                id=device_id,
                public_key=public_key,
                status=status.value,
                profile=profile,
                site=site,
                grid_cell=grid_cell,
                created_at=now,
                enrolled_at=now if approved else None,
            )
            .on_conflict_do_nothing(index_elements=[Device.id])
        )
        device = _select(conn, device_id, lock=True)
        assert device is not None  # noqa: S101 - inserted or already there, in this transaction
        if device.public_key != public_key:
            raise DeviceConflictError(f"device {device_id} is enrolled with another key: enrol the new key anew")
        if device.status is DeviceStatus.DECOMMISSIONED:
            raise DeviceStateError(f"device {device_id} was decommissioned: enrol the terminal under a new id")
        if approved and device.status is DeviceStatus.PENDING:
            return _set_enrolled(conn, device_id, now)
        return device


def _set_enrolled(conn: Connection, device_id: str, now: float) -> DeviceView:
    conn.execute(
        sa.update(Device).where(Device.id == device_id).values(status=DeviceStatus.ENROLLED.value, enrolled_at=now)
    )
    device = _select(conn, device_id)
    assert device is not None  # noqa: S101 - locked above
    return device


def approve(target: Target, device_id: str, *, now: float) -> DeviceView:
    """An operator approves a pending request; approving an enrolled device changes nothing."""
    with writing(target) as conn:
        device = _select(conn, device_id, lock=True)
        if device is None:
            raise UnknownDeviceError(f"no device {device_id!r}")
        if device.status is DeviceStatus.DECOMMISSIONED:
            raise DeviceStateError(f"device {device_id} was decommissioned and cannot be approved")
        if device.status is DeviceStatus.PENDING:
            return _set_enrolled(conn, device_id, now)
        return device


def decommission(target: Target, device_id: str, *, now: float) -> DeviceView:
    """Retire a device: its key stops working at once; what it reported stays (and is still relayed)."""
    with writing(target) as conn:
        device = _select(conn, device_id, lock=True)
        if device is None:
            raise UnknownDeviceError(f"no device {device_id!r}")
        if device.status is DeviceStatus.DECOMMISSIONED:
            return device
        conn.execute(
            sa.update(Device)
            .where(Device.id == device_id)
            .values(status=DeviceStatus.DECOMMISSIONED.value, decommissioned_at=now)
        )
        retired = _select(conn, device_id)
        assert retired is not None  # noqa: S101 - locked above
        return retired


def get_device(target: Target, device_id: str) -> DeviceView | None:
    """A device by id, whatever its status."""
    with reading(target) as conn:
        return _select(conn, device_id)


def list_devices(target: Target, status: DeviceStatus | None = None) -> list[DeviceView]:
    """Every device (or those in one status), by id."""
    query = sa.select(*_COLUMNS).order_by(Device.id)
    if status is not None:
        query = query.where(Device.status == status.value)
    with reading(target) as conn:
        return [_view(row) for row in conn.execute(query)]


def enrolled_key(target: Target, device_id: str) -> ed25519.Ed25519PublicKey | None:
    """The key to verify a device's batches and state with; None unless the device is enrolled."""
    with reading(target) as conn:
        row = conn.execute(
            sa.select(Device.public_key).where(Device.id == device_id, Device.status == DeviceStatus.ENROLLED.value)
        ).one_or_none()
    return None if row is None else _ed25519_key(bytes(row[0]))
