"""Pushed device configurations: one row per (device, version), the signed payload as sent, and the answer.

Versions are numbered per device by the hub, 1, 2, 3 ..., inside the transaction that stores them (the device row
is locked, so two operators pushing at once get two versions, never one twice). A terminal refuses a version that is
not above the one it holds, so the numbering is what protects terminals from a replayed, older configuration.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from hub.storage.devices import DeviceStatus, _select
from hub.storage.engine import Target, reading, writing
from hub.storage.errors import DeviceStateError, UnknownDeviceError
from hub.storage.models import Device, DeviceConfigRow, check_text

ANSWER_LEN = 128
CREATED_BY_LEN = 64


@dataclass(frozen=True, slots=True)
class ConfigVersion:
    """One pushed configuration of a device."""

    device_id: str
    version: int
    settings: dict[str, Any]
    payload: bytes
    created_at: float
    created_by: str
    published_at: float | None
    answered_at: float | None
    answer_ok: bool | None
    answer_detail: str | None


_COLUMNS = (
    DeviceConfigRow.device_id,
    DeviceConfigRow.version,
    DeviceConfigRow.settings,
    DeviceConfigRow.payload,
    DeviceConfigRow.created_at,
    DeviceConfigRow.created_by,
    DeviceConfigRow.published_at,
    DeviceConfigRow.answered_at,
    DeviceConfigRow.answer_ok,
    DeviceConfigRow.answer_detail,
)


def _view(row: Sequence[Any]) -> ConfigVersion:
    return ConfigVersion(
        row[0], int(row[1]), dict(row[2]), bytes(row[3]), row[4], row[5], row[6], row[7],
        None if row[8] is None else bool(row[8]), row[9],
    )  # fmt: skip


def store_config(
    target: Target,
    device_id: str,
    settings: dict[str, Any],
    sign: Callable[[int], bytes],
    *,
    created_by: str,
    now: float,
) -> ConfigVersion:
    """Number, sign (``sign(version) -> payload``) and keep the next configuration of an enrolled device."""
    check_text("created_by", created_by, CREATED_BY_LEN)
    with writing(target) as conn:
        device = _select(conn, device_id, lock=True)
        if device is None:
            raise UnknownDeviceError(f"no device {device_id!r}")
        if device.status is not DeviceStatus.ENROLLED:
            raise DeviceStateError(f"device {device_id} is {device.status.value}: only enrolled devices get configs")
        held = conn.execute(
            sa.select(sa.func.max(DeviceConfigRow.version)).where(DeviceConfigRow.device_id == device_id)
        ).scalar()
        version = int(held or 0) + 1
        payload = sign(version)
        conn.execute(
            sa.insert(DeviceConfigRow).values(
                device_id=device_id, version=version, settings=settings, payload=payload,
                created_at=now, created_by=created_by,
            )
        )  # fmt: skip
    return ConfigVersion(device_id, version, settings, payload, now, created_by, None, None, None, None)


def latest_config(target: Target, device_id: str) -> ConfigVersion | None:
    """The newest configuration pushed to a device."""
    with reading(target) as conn:
        row = conn.execute(
            sa.select(*_COLUMNS)
            .where(DeviceConfigRow.device_id == device_id)
            .order_by(DeviceConfigRow.version.desc())
            .limit(1)
        ).one_or_none()
    return None if row is None else _view(row)


def config_history(target: Target, device_id: str, *, limit: int = 20) -> list[ConfigVersion]:
    """A device's configurations, newest first."""
    with reading(target) as conn:
        rows = conn.execute(
            sa.select(*_COLUMNS)
            .where(DeviceConfigRow.device_id == device_id)
            .order_by(DeviceConfigRow.version.desc())
            .limit(max(1, min(limit, 500)))
        ).all()
    return [_view(row) for row in rows]


def mark_published(target: Target, device_id: str, version: int, *, now: float) -> None:
    """The version was handed to the broker, retained."""
    with writing(target) as conn:
        conn.execute(
            sa.update(DeviceConfigRow)
            .where(DeviceConfigRow.device_id == device_id, DeviceConfigRow.version == version)
            .values(published_at=now)
        )


def unpublished_configs(target: Target, *, limit: int = 500) -> list[ConfigVersion]:
    """Newest versions of enrolled devices not yet handed to the broker (pushed while it was away, or by the CLI)."""
    newest = (
        sa.select(DeviceConfigRow.device_id, sa.func.max(DeviceConfigRow.version).label("version"))
        .group_by(DeviceConfigRow.device_id)
        .subquery()
    )
    with reading(target) as conn:
        rows = conn.execute(
            sa.select(*_COLUMNS)
            .join(
                newest,
                sa.and_(newest.c.device_id == DeviceConfigRow.device_id, newest.c.version == DeviceConfigRow.version),
            )
            .join(Device, Device.id == DeviceConfigRow.device_id)
            .where(DeviceConfigRow.published_at.is_(None), Device.status == DeviceStatus.ENROLLED.value)
            .limit(limit)
        ).all()
    return [_view(row) for row in rows]


def record_config_answer(target: Target, device_id: str, version: int, *, ok: bool, detail: str, now: float) -> bool:
    """What the terminal answered to a version (``config:<version>`` on its result topic); False if unknown."""
    with writing(target) as conn:
        updated = conn.execute(
            sa.update(DeviceConfigRow)
            .where(DeviceConfigRow.device_id == device_id, DeviceConfigRow.version == version)
            .values(answered_at=now, answer_ok=ok, answer_detail=detail[:ANSWER_LEN])
        )
    return updated.rowcount > 0
