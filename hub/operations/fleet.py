"""The fleet: inventory with presence, pre-authorising and approving terminals, inventory edits, decommissioning.

Each change is audited (``device.preauthorise``, ``device.request``, ``device.approve``, ``device.update``,
``device.decommission``). The broker side (dynamic security) follows the hub's committed change: pre-authorising
with a broker password creates or updates the terminal's broker user; decommissioning disables it, which also drops
its live connection. Should the broker fail, the hub's side stands (the hub already refuses a decommissioned
terminal's batches), a ``failed`` audit row says so, and repeating the operation finishes it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum

import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from sqlalchemy.engine import Engine

from hub.accounts.roles import Role
from hub.broker.dynsec import BrokerAdminError
from hub.operations import audit
from hub.operations.audit import Actor, audited
from hub.operations.errors import BrokerError, ForbiddenError, InvalidInputError, NotFoundError, translated
from hub.operations.ports import BrokerControl
from hub.storage import devices as storage
from hub.storage.devices import PLACE_LEN, DeviceStatus, DeviceView
from hub.storage.engine import Target, reading
from hub.storage.ingest import StreamProgress
from hub.storage.models import Device, check_text
from hub.storage.presence import PresenceView, get_presence
from hub.storage.queries import DevicePresence, devices_with_presence, stream_states
from protocol.keys import KeyFormatError, load_public_key_der, load_public_key_pem, spki_der

log = logging.getLogger(__name__)

MAX_PEM_CHARS = 2048


class BrokerSide(StrEnum):
    """What the broker side of a change did."""

    DONE = "done"
    NOT_CONFIGURED = "not_configured"
    """No broker admin is configured: set the terminal's broker user up yourself."""
    SKIPPED = "skipped"
    """Nothing to do there (no broker password given)."""


@dataclass(frozen=True, slots=True)
class DeviceDetail:
    """A device with its key (PEM), presence and stream progress."""

    device: DeviceView
    public_key_pem: str
    presence: PresenceView | None
    streams: list[StreamProgress]


@dataclass(frozen=True, slots=True)
class Enrolment:
    """What pre-authorising (or requesting) a terminal takes."""

    device_id: str
    public_key_pem: str
    profile: str
    site: str | None = None
    grid_cell: str | None = None
    broker_password: str | None = None
    approved: bool = True


def _require(actor: Actor, role: Role) -> None:
    if not actor.role.allows(role):
        raise ForbiddenError(f"this needs the {role.value} role")


def _pem(public_key: bytes) -> str:
    try:
        key = load_public_key_der(public_key)
    except KeyFormatError:
        return ""
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def inventory(target: Target) -> list[DevicePresence]:
    """Every device with its presence, by id."""
    with translated():
        return devices_with_presence(target)


def device_detail(target: Target, device_id: str) -> DeviceDetail:
    """One device, its presence and streams."""
    with translated():
        device = storage.get_device(target, device_id)
        if device is None:
            raise NotFoundError(f"no device {device_id!r}")
        return DeviceDetail(
            device, _pem(device.public_key), get_presence(target, device_id), stream_states(target, device_id)
        )


@dataclass(frozen=True, slots=True)
class Preauthorised:
    """What pre-authorising did."""

    detail: DeviceDetail
    broker: BrokerSide
    created: bool
    """False: the device was there already with this key (a rerun of the flashing tool)."""


def preauthorise(
    engine: Engine, actor: Actor, enrolment: Enrolment, *, now: float, broker: BrokerControl | None
) -> Preauthorised:
    """Enrol a terminal by id and key (idempotent for the same key; another key is a conflict), or record its
    pending request (``approved`` False); with a broker password, its broker user too."""
    action = "device.preauthorise" if enrolment.approved else "device.request"
    device_id = enrolment.device_id
    with audited(engine, actor, action, f"device:{device_id}", now=now) as scope:
        _require(actor, Role.OPERATOR)
        if len(enrolment.public_key_pem) > MAX_PEM_CHARS:
            raise InvalidInputError("the public key PEM is too long")
        try:
            key = load_public_key_pem(enrolment.public_key_pem.encode())
        except (KeyFormatError, ValueError) as exc:
            raise InvalidInputError(f"not a PEM public key: {exc}") from exc
        created = scope.conn.execute(sa.select(Device.id).where(Device.id == device_id)).one_or_none() is None
        view = storage.enrol(
            scope.conn, device_id, spki_der(key), profile=enrolment.profile, now=now, site=enrolment.site,
            grid_cell=enrolment.grid_cell, approved=enrolment.approved,
        )  # fmt: skip
        scope.detail = f"{view.profile}, {view.status.value}{'' if created else ', was there'}"
    side = _broker_enrol(engine, actor, device_id, enrolment.broker_password, now=now, broker=broker)
    return Preauthorised(device_detail(engine, device_id), side, created)


def _broker_enrol(
    engine: Engine, actor: Actor, device_id: str, password: str | None, *, now: float, broker: BrokerControl | None
) -> BrokerSide:
    if password is None:
        return BrokerSide.SKIPPED
    if broker is None:
        return BrokerSide.NOT_CONFIGURED
    try:
        broker.enrol_device(device_id, password)
    except (BrokerAdminError, OSError) as exc:
        audit.fail(engine, actor, "device.broker_enrol", f"device:{device_id}", now=now, detail=str(exc))
        raise BrokerError(f"{device_id} is enrolled at the hub, but the broker refused: {exc}; try again") from exc
    audit.record(engine, actor, "device.broker_enrol", f"device:{device_id}", audit.Outcome.OK, now=now)
    return BrokerSide.DONE


def details(target: Target, status: DeviceStatus | None = None) -> list[DeviceDetail]:
    """Every device (or those in one status) with presence and streams, by id, in three queries."""
    with translated():
        views = storage.list_devices(target, status)
        presence = {row.device_id: row.presence for row in devices_with_presence(target)}
        streams: dict[str, list[StreamProgress]] = {}
        for progress in stream_states(target):
            streams.setdefault(progress.device_id, []).append(progress)
    return [
        DeviceDetail(view, _pem(view.public_key), presence.get(view.id), streams.get(view.id, [])) for view in views
    ]


def approve(engine: Engine, actor: Actor, device_id: str, *, now: float) -> DeviceDetail:
    """Approve a pending request: the terminal's key is usable from now on."""
    with audited(engine, actor, "device.approve", f"device:{device_id}", now=now) as scope:
        _require(actor, Role.OPERATOR)
        storage.approve(scope.conn, device_id, now=now)
    return device_detail(engine, device_id)


def update(engine: Engine, actor: Actor, device_id: str, changes: dict[str, str | None], *, now: float) -> DeviceDetail:
    """Change a device's ``site`` or ``grid_cell`` (the keys given; None clears)."""
    with audited(engine, actor, "device.update", f"device:{device_id}", now=now) as scope:
        _require(actor, Role.OPERATOR)
        unknown = set(changes) - {"site", "grid_cell"}
        if unknown:
            raise InvalidInputError(f"cannot change {sorted(unknown)}")
        for name, value in changes.items():
            check_text(name, value, PLACE_LEN)
        if scope.conn.execute(sa.select(Device.id).where(Device.id == device_id)).one_or_none() is None:
            raise NotFoundError(f"no device {device_id!r}")
        if changes:
            scope.conn.execute(sa.update(Device).where(Device.id == device_id).values(**changes))
        scope.detail = ", ".join(f"{k}={v}" for k, v in sorted(changes.items())) or "no change"
    return device_detail(engine, device_id)


def decommission(
    engine: Engine, actor: Actor, device_id: str, *, now: float, broker: BrokerControl | None
) -> tuple[DeviceDetail, BrokerSide]:
    """Retire a terminal: the hub refuses its key at once, the broker disables its user and drops its connection.
    Repeating it finishes a broker side that failed before."""
    with audited(engine, actor, "device.decommission", f"device:{device_id}", now=now) as scope:
        _require(actor, Role.OPERATOR)
        view = storage.decommission(scope.conn, device_id, now=now)
        scope.detail = f"was {view.status.value}"
    if broker is None:
        return device_detail(engine, device_id), BrokerSide.NOT_CONFIGURED
    try:
        broker.decommission_device(device_id)
    except (BrokerAdminError, OSError) as exc:
        if isinstance(exc, BrokerAdminError) and exc.error == "Client not found":
            return device_detail(engine, device_id), BrokerSide.SKIPPED
        audit.fail(engine, actor, "device.broker_disable", f"device:{device_id}", now=now, detail=str(exc))
        raise BrokerError(f"{device_id} is refused by the hub, but the broker did not disable it: {exc}") from exc
    audit.record(engine, actor, "device.broker_disable", f"device:{device_id}", audit.Outcome.OK, now=now)
    log.info("decommissioned %s", device_id)
    return device_detail(engine, device_id), BrokerSide.DONE


def status_counts(target: Target) -> dict[str, int]:
    """Devices by status (every status present, zero or more)."""
    with translated(), reading(target) as conn:
        rows = conn.execute(sa.select(Device.status, sa.func.count()).group_by(Device.status)).all()
    counts = {status.value: 0 for status in DeviceStatus}
    counts.update({status: int(count) for status, count in rows})
    return counts
