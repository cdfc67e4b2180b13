"""The district relay's durable outbox: every batch that brought new records, once, in order per device.

``ingest.store_batch`` enqueues a batch in the same transaction that stores its records, with the SHA-256 of the
device-signed bytes as the idempotency key the district deduplicates on. A device's batches go out in the order
they were stored: while the oldest undelivered batch of a device waits out its backoff, none after it is due.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import aliased

from hub.storage.engine import Target, reading, writing
from hub.storage.models import ERROR_LEN, Batch, RelayOutbox
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
        .where(RelayOutbox.delivered_at.is_(None), RelayOutbox.next_attempt_at <= now, ~blocked)
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
    """Batches not yet delivered to the district."""
    with reading(target) as conn:
        return int(
            conn.execute(
                sa.select(sa.func.count()).select_from(RelayOutbox).where(RelayOutbox.delivered_at.is_(None))
            ).scalar_one()
        )
