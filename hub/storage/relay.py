"""The district relay's durable outbox: every batch that brought new records, once, in order per device.

``ingest.store_batch`` enqueues a batch in the same transaction that stores its records, with the SHA-256 of the
device-signed bytes as the idempotency key the district deduplicates on. A device's batches go out in the order
they were stored: while the oldest undelivered batch of a device waits out its backoff, none after it is due.

A batch the district refuses for good is *parked* (with the reason): it is no longer due and no longer holds its
device back, and operators see it (``parked_batches``) until they requeue it. Beside the outbox: which devices the
district knows (their keys registered, their decommission notified), and the lease that lets one hub worker at a
time run the relay.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import InstrumentedAttribute, aliased

from hub.storage.engine import Target, dialect_insert, reading, writing
from hub.storage.models import (
    ERROR_LEN,
    REASON_LEN,
    Batch,
    Device,
    RelayDevice,
    RelayLease,
    RelayOutbox,
    RelayParked,
)
from protocol.topics import Stream

RELAY_BACKOFF_BASE_S = 2.0
RELAY_BACKOFF_MAX_S = 600.0
"""Retry delays double from the base up to this cap."""


@dataclass(frozen=True, slots=True)
class RelayItem:
    """A batch to forward to the district, with the device's own signed bytes."""

    id: int
    device_id: str
    stream: Stream
    batch_id: int
    idempotency_key: str
    attempts: int
    first_seq: int
    last_seq: int
    cose: bytes


def relay_backoff_s(attempts: int) -> float:
    """How long to wait after ``attempts`` failed deliveries."""
    return min(RELAY_BACKOFF_MAX_S, RELAY_BACKOFF_BASE_S * 2.0 ** max(0, min(attempts - 1, 30)))


def _parked(outbox_id: sa.ColumnElement[int] | InstrumentedAttribute[int]) -> sa.Exists:
    return sa.select(RelayParked.outbox_id).where(RelayParked.outbox_id == outbox_id).exists()


def due_relay_batches(target: Target, *, limit: int, now: float) -> list[RelayItem]:
    """Undelivered batches due at ``now``, oldest first; a device's batches stop at its first one not yet due."""
    earlier = aliased(RelayOutbox)
    blocked = (
        sa.select(earlier.id)
        .where(
            earlier.device_id == RelayOutbox.device_id,
            earlier.delivered_at.is_(None),
            earlier.id < RelayOutbox.id,
            earlier.next_attempt_at > now,
            ~_parked(earlier.id),
        )
        .exists()
    )
    query = (
        sa.select(
            RelayOutbox.id,
            RelayOutbox.device_id,
            RelayOutbox.stream,
            RelayOutbox.batch_id,
            RelayOutbox.idempotency_key,
            RelayOutbox.attempts,
            Batch.first_seq,
            Batch.last_seq,
            Batch.cose,
        )
        .join(Batch, Batch.id == RelayOutbox.batch_id)
        .where(
            RelayOutbox.delivered_at.is_(None), RelayOutbox.next_attempt_at <= now, ~blocked, ~_parked(RelayOutbox.id)
        )
        .order_by(RelayOutbox.id)
        .limit(limit)
    )
    with reading(target) as conn:
        rows = conn.execute(query).all()
    return [RelayItem(r[0], r[1], Stream(r[2]), r[3], r[4], r[5], r[6], r[7], bytes(r[8])) for r in rows]


def mark_delivered(target: Target, outbox_id: int, *, now: float) -> bool:
    """The district stored the batch; False when it was marked delivered before (nothing changes)."""
    with writing(target) as conn:
        result = conn.execute(
            sa.update(RelayOutbox)
            .where(RelayOutbox.id == outbox_id, RelayOutbox.delivered_at.is_(None))
            .values(delivered_at=now, last_error=None)
        )
        return bool(result.rowcount)


def mark_failed(target: Target, outbox_id: int, *, now: float, error: str = "", backoff_s: float | None = None) -> None:
    """A delivery failed: count it and wait ``backoff_s`` (default: doubling per attempt) before the next one."""
    with writing(target) as conn:
        attempts = conn.execute(
            sa.select(RelayOutbox.attempts)
            .where(RelayOutbox.id == outbox_id, RelayOutbox.delivered_at.is_(None))
            .with_for_update()
        ).scalar_one_or_none()
        if attempts is None:
            return
        delay = relay_backoff_s(attempts + 1) if backoff_s is None else backoff_s
        conn.execute(
            sa.update(RelayOutbox)
            .where(RelayOutbox.id == outbox_id)
            .values(attempts=attempts + 1, next_attempt_at=now + delay, last_error=error[:ERROR_LEN] or None)
        )


def pending_relay_count(target: Target) -> int:
    """Batches not yet delivered to the district (parked ones included)."""
    with reading(target) as conn:
        return int(
            conn.execute(
                sa.select(sa.func.count()).select_from(RelayOutbox).where(RelayOutbox.delivered_at.is_(None))
            ).scalar_one()
        )


# --- parked batches -----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ParkedBatch:
    """A batch the district refused for good, as operators see it."""

    outbox_id: int
    device_id: str
    stream: str
    first_seq: int
    last_seq: int
    attempts: int
    reason: str
    http_status: int | None
    detail: str | None
    parked_at: float


def park(
    target: Target, outbox_id: int, *, reason: str, now: float, http_status: int | None = None, detail: str = ""
) -> bool:
    """Stop retrying a batch the district refused for good; False when it was delivered or parked already."""
    with writing(target) as conn:
        pending = conn.execute(
            sa.select(RelayOutbox.id).where(RelayOutbox.id == outbox_id, RelayOutbox.delivered_at.is_(None))
        ).scalar_one_or_none()
        if pending is None:
            return False
        inserted = conn.execute(
            dialect_insert(conn, RelayParked)
            .values(
                outbox_id=outbox_id,
                reason=reason[:REASON_LEN],
                http_status=http_status,
                detail=detail[:ERROR_LEN] or None,
                parked_at=now,
            )
            .on_conflict_do_nothing()
            .returning(RelayParked.outbox_id)
        ).scalar_one_or_none()
        if inserted is None:
            return False
        conn.execute(
            sa.update(RelayOutbox)
            .where(RelayOutbox.id == outbox_id)
            .values(attempts=RelayOutbox.attempts + 1, last_error=f"parked: {reason}"[:ERROR_LEN])
        )
        return True


def parked_batches(target: Target, *, limit: int = 100) -> list[ParkedBatch]:
    """Parked batches, oldest first: what an operator looks at."""
    query = (
        sa.select(
            RelayOutbox.id,
            RelayOutbox.device_id,
            RelayOutbox.stream,
            Batch.first_seq,
            Batch.last_seq,
            RelayOutbox.attempts,
            RelayParked.reason,
            RelayParked.http_status,
            RelayParked.detail,
            RelayParked.parked_at,
        )
        .join(RelayParked, RelayParked.outbox_id == RelayOutbox.id)
        .join(Batch, Batch.id == RelayOutbox.batch_id)
        .order_by(RelayOutbox.id)
        .limit(limit)
    )
    with reading(target) as conn:
        return [
            ParkedBatch(r[0], r[1], r[2], int(r[3]), int(r[4]), int(r[5]), r[6], r[7], r[8], r[9])
            for r in conn.execute(query)
        ]


def requeue_parked(target: Target, *, now: float, outbox_id: int | None = None) -> int:
    """An operator fixed the cause: retry one parked batch (or all of them) now. Returns how many."""
    with writing(target) as conn:
        query = sa.select(RelayParked.outbox_id)
        if outbox_id is not None:
            query = query.where(RelayParked.outbox_id == outbox_id)
        ids = list(conn.execute(query).scalars())
        if not ids:
            return 0
        conn.execute(sa.delete(RelayParked).where(RelayParked.outbox_id.in_(ids)))
        conn.execute(sa.update(RelayOutbox).where(RelayOutbox.id.in_(ids)).values(attempts=0, next_attempt_at=now))
        return len(ids)


@dataclass(frozen=True, slots=True)
class RelayStats:
    """The relay at a glance (metrics and the operators' page)."""

    queued: int
    """Batches waiting to be delivered (not parked)."""
    oldest_age_s: float | None
    """How long the oldest of them has waited (None: none waits)."""
    parked: int
    delivered: int
    unregistered_devices: int
    """Devices with batches waiting whose key the district has not confirmed yet."""


def relay_stats(target: Target, *, now: float) -> RelayStats:
    """Queue depth, oldest age, parked and delivered counts."""
    waiting = sa.and_(RelayOutbox.delivered_at.is_(None), ~_parked(RelayOutbox.id))
    with reading(target) as conn:
        queued, oldest = conn.execute(
            sa.select(sa.func.count(), sa.func.min(RelayOutbox.created_at)).where(waiting)
        ).one()
        parked = conn.execute(sa.select(sa.func.count()).select_from(RelayParked)).scalar_one()
        delivered = conn.execute(
            sa.select(sa.func.count()).select_from(RelayOutbox).where(RelayOutbox.delivered_at.is_not(None))
        ).scalar_one()
        unregistered = conn.execute(
            sa.select(sa.func.count(sa.distinct(RelayOutbox.device_id)))
            .outerjoin(RelayDevice, RelayDevice.device_id == RelayOutbox.device_id)
            .where(waiting, RelayDevice.registered_at.is_(None))
        ).scalar_one()
    return RelayStats(
        int(queued), None if oldest is None else max(0.0, now - oldest), int(parked), int(delivered), int(unregistered)
    )


# --- devices at the district --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UpstreamDevice:
    """A device whose key the district must learn (or whose decommission it must hear)."""

    device_id: str
    public_key: bytes
    profile: str


def registered_devices(target: Target) -> set[str]:
    """Devices whose key the district confirmed."""
    with reading(target) as conn:
        return set(
            conn.execute(sa.select(RelayDevice.device_id).where(RelayDevice.registered_at.is_not(None))).scalars()
        )


def devices_to_register(target: Target, *, now: float, limit: int) -> list[UpstreamDevice]:
    """Enrolled devices the district does not know yet (whose retry is due), and decommissioned ones that still
    have batches to relay; by id."""
    has_pending = (
        sa.select(RelayOutbox.id)
        .where(RelayOutbox.device_id == Device.id, RelayOutbox.delivered_at.is_(None), ~_parked(RelayOutbox.id))
        .exists()
    )
    query = (
        sa.select(Device.id, Device.public_key, Device.profile)
        .outerjoin(RelayDevice, RelayDevice.device_id == Device.id)
        .where(
            RelayDevice.registered_at.is_(None),
            sa.or_(RelayDevice.next_attempt_at.is_(None), RelayDevice.next_attempt_at <= now),
            sa.or_(Device.status == "enrolled", sa.and_(Device.status == "decommissioned", has_pending)),
        )
        .order_by(Device.id)
        .limit(limit)
    )
    with reading(target) as conn:
        return [UpstreamDevice(row[0], bytes(row[1]), row[2]) for row in conn.execute(query)]


def upstream_device(target: Target, device_id: str) -> UpstreamDevice | None:
    """A device's key and profile as the district is told them (None: no such device, or a pending one)."""
    with reading(target) as conn:
        row = conn.execute(
            sa.select(Device.id, Device.public_key, Device.profile).where(
                Device.id == device_id, Device.status.in_(("enrolled", "decommissioned"))
            )
        ).one_or_none()
    return None if row is None else UpstreamDevice(row[0], bytes(row[1]), row[2])


def devices_to_decommission(target: Target, *, now: float, limit: int) -> list[str]:
    """Decommissioned devices the district knows whose batches are all delivered (or parked): notify it now."""
    has_pending = (
        sa.select(RelayOutbox.id)
        .where(RelayOutbox.device_id == Device.id, RelayOutbox.delivered_at.is_(None), ~_parked(RelayOutbox.id))
        .exists()
    )
    query = (
        sa.select(Device.id)
        .join(RelayDevice, RelayDevice.device_id == Device.id)
        .where(
            Device.status == "decommissioned",
            RelayDevice.registered_at.is_not(None),
            RelayDevice.decommission_sent_at.is_(None),
            RelayDevice.next_attempt_at <= now,
            ~has_pending,
        )
        .order_by(Device.id)
        .limit(limit)
    )
    with reading(target) as conn:
        return list(conn.execute(query).scalars())


def _upsert_device(conn: sa.Connection, device_id: str, values: dict[str, object]) -> None:
    conn.execute(
        dialect_insert(conn, RelayDevice)
        .values(device_id=device_id, **values)
        .on_conflict_do_update(index_elements=[RelayDevice.device_id], set_=values)
    )


def mark_registered(target: Target, device_id: str, *, now: float) -> None:
    """The district confirmed the device's key."""
    with writing(target) as conn:
        _upsert_device(
            conn, device_id, {"registered_at": now, "attempts": 0, "next_attempt_at": now, "last_error": None}
        )


def mark_unregistered(target: Target, device_id: str, *, now: float) -> None:
    """The district says it does not know the device (its database was restored, say): register it again."""
    with writing(target) as conn:
        _upsert_device(conn, device_id, {"registered_at": None, "next_attempt_at": now})


def mark_decommission_sent(target: Target, device_id: str, *, now: float) -> None:
    """The district heard that the device was retired."""
    with writing(target) as conn:
        _upsert_device(conn, device_id, {"decommission_sent_at": now, "attempts": 0, "last_error": None})


def device_call_failed(target: Target, device_id: str, *, now: float, error: str, backoff_s: float) -> None:
    """A registration or decommission call failed: try again after ``backoff_s``."""
    with writing(target) as conn:
        attempts = conn.execute(
            sa.select(RelayDevice.attempts).where(RelayDevice.device_id == device_id)
        ).scalar_one_or_none()
        _upsert_device(
            conn,
            device_id,
            {"attempts": (attempts or 0) + 1, "next_attempt_at": now + backoff_s, "last_error": error[:ERROR_LEN]},
        )


def device_attempts(target: Target, device_id: str) -> int:
    """Failed registration or decommission calls for a device since its last success."""
    with reading(target) as conn:
        return int(
            conn.execute(sa.select(RelayDevice.attempts).where(RelayDevice.device_id == device_id)).scalar_one_or_none()
            or 0
        )


# --- the lease ----------------------------------------------------------------------------------------------------

RELAY_LEASE = "district-relay"


def acquire_lease(target: Target, holder: str, *, now: float, ttl_s: float, name: str = RELAY_LEASE) -> bool:
    """Take or renew the lease ``name`` for ``holder`` until ``now + ttl_s``; False while another holds it."""
    with writing(target) as conn:
        conn.execute(
            dialect_insert(conn, RelayLease)
            .values(name=name, holder=holder, expires_at=now + ttl_s)
            .on_conflict_do_nothing()
        )
        row = conn.execute(
            sa.select(RelayLease.holder, RelayLease.expires_at).where(RelayLease.name == name).with_for_update()
        ).one()
        if row[0] != holder and row[1] > now:
            return False
        conn.execute(sa.update(RelayLease).where(RelayLease.name == name).values(holder=holder, expires_at=now + ttl_s))
        return True


def release_lease(target: Target, holder: str, *, name: str = RELAY_LEASE) -> None:
    """Give the lease up (at a clean stop) so another worker takes over at once."""
    with writing(target) as conn:
        conn.execute(sa.delete(RelayLease).where(RelayLease.name == name, RelayLease.holder == holder))
