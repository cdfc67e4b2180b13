"""Which store a device's records come from, and the keys it rotated away from.

Stores. Every boot id a terminal makes starts with its store's tag (``protocol/identity.py``), and every batch carries
its boot id, so each batch says which store numbered its records, even one handled before the birth (several
workers, shared subscriptions). ``admit`` decides per batch:

- the device's ``current`` store: taken (a resolved store only above its ``bases``, until the terminal renumbered);
- a store never seen: it becomes current when the hub holds no record of the device (first contact, or nothing
  stored yet); otherwise it is a ``conflict``: the store was replaced (SD card swapped, file deleted) and its
  sequence numbers start again at 1, so taking them would ack new records as duplicates of old ones and lose them.
  Its batches are refused (``store_replaced``, never acked) until an operator resolves it;
- a ``retired`` store (the one replaced, if it ever comes back): refused (``store_retired``).

``resolve`` (an operator's action, ``hub/operations/identity.py``) makes the conflicting store current with bases
= the highest seq the hub holds per stream, declares the old store's unfilled gaps lost (it is gone: nothing can
fill them), and the terminal is told (command ``renumber``) to number its unacknowledged records above the bases.
Nothing of the new store was stored before (every batch of it was refused), so nothing is lost or counted twice.

Keys. ``device_keys`` keeps every key a device rotated away from, with the rotation message that retired it, so a
batch or state signed by a retired key is refused with its own reason (``retired_key``) and a replayed rotation can
be answered again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub.storage.engine import Target, dialect_insert, reading, writing
from hub.storage.errors import InvalidValueError, StorageError, UnknownDeviceError
from hub.storage.models import Device, DeviceKey, DeviceStore, Event, Incident, Refusal, Snapshot, StreamState
from protocol.topics import Stream

STORE_REPLACED = "store_replaced"
STORE_RETIRED = "store_retired"
STORE_RENUMBERING = "store_renumbering"


class StoreState(StrEnum):
    """Where a store stands at the hub."""

    CURRENT = "current"
    CONFLICT = "conflict"
    RETIRED = "retired"


class NothingToResolveError(StorageError):
    """The device has no store in conflict (and none resolved and waiting for the terminal to renumber)."""


@dataclass(frozen=True, slots=True)
class StoreView:
    """One store of a device as the hub knows it."""

    device_id: str
    tag: str
    store_id: str | None
    state: StoreState
    first_seen_at: float
    last_seen_at: float
    resolved_at: float | None
    resolved_by: str | None
    bases: dict[str, int] | None


@dataclass(frozen=True, slots=True)
class StoreConflict:
    """A device whose store was replaced and waits for an operator: what to show them."""

    device_id: str
    tag: str
    store_id: str | None
    first_seen_at: float
    last_seen_at: float
    refused: int
    """Batches refused with ``store_replaced`` (all of the device's, not only this store's)."""
    held: dict[str, int]
    """The highest seq the hub holds per stream: where the replaced store's records will continue."""


@dataclass(frozen=True, slots=True)
class Resolution:
    """What resolving a conflict did: the store made current, its bases, and the old gaps declared lost."""

    tag: str
    store_id: str | None
    bases: dict[Stream, int]
    lost: dict[Stream, int]
    """Seqs of the old store never received (gaps below its last seq): gone with it."""
    again: bool
    """True when it had been resolved before (the terminal has not renumbered yet): the same bases, sent again."""


_COLUMNS = (
    DeviceStore.device_id,
    DeviceStore.tag,
    DeviceStore.store_id,
    DeviceStore.state,
    DeviceStore.first_seen_at,
    DeviceStore.last_seen_at,
    DeviceStore.resolved_at,
    DeviceStore.resolved_by,
    DeviceStore.bases,
)


def _view(row: Sequence[Any]) -> StoreView:
    bases = row[8]
    return StoreView(
        str(row[0]),
        str(row[1]),
        None if row[2] is None else str(row[2]),
        StoreState(str(row[3])),
        float(row[4]),
        float(row[5]),
        None if row[6] is None else float(row[6]),
        None if row[7] is None else str(row[7]),
        None if bases is None else {str(k): int(v) for k, v in bases.items()},
    )


def _check_tag(tag: str) -> str:
    if len(tag) != 8 or any(c not in "0123456789abcdef" for c in tag):
        raise InvalidValueError("a store tag is 8 lowercase hex digits")
    return tag


def _stores(conn: Connection, device_id: str) -> list[StoreView]:
    rows = conn.execute(
        sa.select(*_COLUMNS).where(DeviceStore.device_id == device_id).order_by(DeviceStore.first_seen_at)
    )
    return [_view(row) for row in rows]


def _held(conn: Connection, device_id: str) -> dict[Stream, int]:
    rows = conn.execute(
        sa.select(StreamState.stream, StreamState.max_seq).where(StreamState.device_id == device_id)
    ).all()
    return {Stream(str(stream)): int(max_seq) for stream, max_seq in rows if int(max_seq) > 0}


def _taken(store: StoreView, stream: Stream, first_seq: int | None) -> str | None:
    """None when a batch of ``store`` starting at ``first_seq`` may be stored, else the refusal reason."""
    if store.state is StoreState.RETIRED:
        return STORE_RETIRED
    if store.state is StoreState.CONFLICT:
        return STORE_REPLACED
    if store.bases and first_seq is not None and first_seq <= store.bases.get(stream.value, 0):
        return STORE_RENUMBERING
    return None


def admit(
    target: Target,
    device_id: str,
    tag: str,
    *,
    now: float,
    stream: Stream = Stream.EVENTS,
    first_seq: int | None = None,
    store_id: str | None = None,
) -> str | None:
    """Whether a batch (``first_seq`` of ``stream``) or a birth (``first_seq`` None) of store ``tag`` is taken.

    None: taken; else the refusal reason (``store_replaced``, ``store_retired``, ``store_renumbering``). A known
    current store is decided on a read; only a store seen for the first time (or a birth, which refreshes when it
    was last seen) takes the device's lock.
    """
    _check_tag(tag)
    if first_seq is not None:
        with reading(target) as conn:
            row = conn.execute(
                sa.select(*_COLUMNS).where(DeviceStore.device_id == device_id, DeviceStore.tag == tag)
            ).one_or_none()
        if row is not None:
            return _taken(_view(row), stream, first_seq)
    with writing(target) as conn:
        locked = conn.execute(
            sa.select(Device.id).where(Device.id == device_id).with_for_update(key_share=True)
        ).scalar_one_or_none()
        if locked is None:
            raise UnknownDeviceError(f"no device {device_id!r}")
        stores = {store.tag: store for store in _stores(conn, device_id)}
        known = stores.get(tag)
        if known is not None:
            values: dict[str, object] = {"last_seen_at": now}
            if store_id is not None and known.store_id is None:
                values["store_id"] = store_id
            conn.execute(
                sa.update(DeviceStore).where(DeviceStore.device_id == device_id, DeviceStore.tag == tag).values(values)
            )
            return _taken(known, stream, first_seq)
        current = [store for store in stores.values() if store.state is StoreState.CURRENT]
        # With no current store (first contact, or a hub upgraded under running terminals whose records it holds),
        # the store reporting now is taken as the one that numbered them: nothing else tells stores apart. Tags are
        # trusted only once a birth reported a store id: a terminal whose firmware does not make store ids (every
        # boot id random) is never taken for a replaced store at each reboot.
        state = StoreState.CURRENT
        announced = any(store.store_id is not None for store in stores.values()) or store_id is not None
        if current and announced and _held(conn, device_id):
            state = StoreState.CONFLICT
        elif current:
            conn.execute(
                sa.update(DeviceStore)
                .where(DeviceStore.device_id == device_id, DeviceStore.state == StoreState.CURRENT.value)
                .values(state=StoreState.RETIRED.value)
            )
        conn.execute(
            dialect_insert(conn, DeviceStore)
            .values(
                device_id=device_id, tag=tag, store_id=store_id, state=state.value, first_seen_at=now, last_seen_at=now
            )
            .on_conflict_do_nothing()
        )
        return STORE_REPLACED if state is StoreState.CONFLICT else None


def resolve(conn: Connection, device_id: str, *, by: str, now: float) -> Resolution:
    """Make the device's conflicting store current above the hub's highest seqs (in the caller's transaction).

    Called again before the terminal renumbered (the command expired, say): the same bases, ``again`` set.
    """
    locked = conn.execute(
        sa.select(Device.id).where(Device.id == device_id).with_for_update(key_share=True)
    ).scalar_one_or_none()
    if locked is None:
        raise UnknownDeviceError(f"no device {device_id!r}")
    stores = _stores(conn, device_id)
    conflicts = [store for store in stores if store.state is StoreState.CONFLICT]
    if not conflicts:
        waiting = [
            s for s in stores if s.state is StoreState.CURRENT and s.bases is not None and not _renumbered(conn, s)
        ]
        if not waiting:
            raise NothingToResolveError(f"device {device_id} has no replaced store to resolve")
        store = waiting[0]
        bases = {Stream(k): v for k, v in (store.bases or {}).items()}
        return Resolution(store.tag, store.store_id, bases, {}, again=True)
    store = conflicts[-1]  # the newest: an older conflicting store is retired with the old current one
    rows = conn.execute(
        sa.select(StreamState.stream, StreamState.contiguous_upto, StreamState.max_seq)
        .where(StreamState.device_id == device_id)
        .with_for_update()
    ).all()
    bases = {Stream(str(stream)): int(max_seq) for stream, _contiguous, max_seq in rows}
    lost = {
        Stream(str(stream)): int(max_seq)
        - int(contiguous)
        - _held_above(conn, device_id, Stream(str(stream)), contiguous)
        for stream, contiguous, max_seq in rows
    }
    # The old store's gaps can never be filled (it is gone): the stream is complete up to its last seq, so the acks
    # of the renumbered records move on from there. How many were lost is in the audit row.
    conn.execute(
        sa.update(StreamState).where(StreamState.device_id == device_id).values(contiguous_upto=StreamState.max_seq)
    )
    conn.execute(
        sa.update(DeviceStore)
        .where(DeviceStore.device_id == device_id, DeviceStore.tag != store.tag)
        .values(state=StoreState.RETIRED.value)
    )
    conn.execute(
        sa.update(DeviceStore)
        .where(DeviceStore.device_id == device_id, DeviceStore.tag == store.tag)
        .values(
            state=StoreState.CURRENT.value,
            resolved_at=now,
            resolved_by=by[:64],
            bases={stream.value: base for stream, base in bases.items()},
        )
    )
    return Resolution(store.tag, store.store_id, bases, {s: n for s, n in lost.items() if n}, again=False)


def _held_above(conn: Connection, device_id: str, stream: Stream, seq: int) -> int:
    """How many records of the stream the hub holds above ``seq``."""
    table: type[Event] | type[Incident] | type[Snapshot] = Event
    if stream is Stream.INCIDENTS:
        table = Incident
    elif stream is Stream.SNAPSHOTS:
        table = Snapshot
    query = sa.select(sa.func.count()).select_from(table).where(table.device_id == device_id, table.seq > seq)
    if table is Event:
        query = query.where(Event.stream == stream.value)
    return int(conn.execute(query).scalar_one())


def _renumbered(conn: Connection, store: StoreView) -> bool:
    """Whether the hub has received records of a resolved store above its bases (the terminal renumbered)."""
    bases = store.bases or {}
    for stream, base in bases.items():
        max_seq = conn.execute(
            sa.select(StreamState.max_seq).where(StreamState.device_id == store.device_id, StreamState.stream == stream)
        ).scalar_one_or_none()
        if max_seq is not None and int(max_seq) > base:
            return True
    return False


def stores(target: Target, device_id: str) -> list[StoreView]:
    """Every store the hub met for a device, oldest first."""
    with reading(target) as conn:
        return _stores(conn, device_id)


def store_conflicts(target: Target) -> list[StoreConflict]:
    """Devices whose store was replaced, waiting for an operator (what the fleet page flags)."""
    with reading(target) as conn:
        rows = conn.execute(
            sa.select(*_COLUMNS).where(DeviceStore.state == StoreState.CONFLICT.value).order_by(DeviceStore.device_id)
        ).all()
        out = []
        for row in rows:
            store = _view(row)
            refused = conn.execute(
                sa.select(Refusal.count).where(Refusal.device_id == store.device_id, Refusal.reason == STORE_REPLACED)
            ).scalar_one_or_none()
            held = {stream.value: seq for stream, seq in _held(conn, store.device_id).items()}
            out.append(
                StoreConflict(
                    store.device_id,
                    store.tag,
                    store.store_id,
                    store.first_seen_at,
                    store.last_seen_at,
                    int(refused or 0),
                    held,
                )
            )
        return out


# --- keys ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RetiredKey:
    """A key a device rotated away from."""

    device_id: str
    kid: str
    public_key: bytes
    retired_at: float
    replaced_by: str
    command_id: str | None


def retire_key(
    conn: Connection,
    device_id: str,
    *,
    old_key: bytes,
    old_kid: bytes,
    new_key: bytes,
    new_kid: bytes,
    command_id: str,
    rotation: bytes,
    now: float,
) -> None:
    """Swap the device's enrolled key (in the caller's transaction, the device row locked by the caller)."""
    conn.execute(sa.update(Device).where(Device.id == device_id).values(public_key=new_key))
    conn.execute(
        sa.insert(DeviceKey).values(
            device_id=device_id,
            kid=old_kid.hex(),
            public_key=old_key,
            retired_at=now,
            replaced_by=new_kid.hex(),
            command_id=command_id,
            rotation=rotation,
        )
    )


def retired_key(target: Target, device_id: str, kid: bytes) -> RetiredKey | None:
    """The newest retired key of ``device_id`` with this kid, or None."""
    with reading(target) as conn:
        row = conn.execute(
            sa.select(
                DeviceKey.device_id,
                DeviceKey.kid,
                DeviceKey.public_key,
                DeviceKey.retired_at,
                DeviceKey.replaced_by,
                DeviceKey.command_id,
            )
            .where(DeviceKey.device_id == device_id, DeviceKey.kid == kid.hex())
            .order_by(DeviceKey.id.desc())
            .limit(1)
        ).one_or_none()
    return None if row is None else RetiredKey(row[0], row[1], bytes(row[2]), row[3], row[4], row[5])


def key_history(target: Target, device_id: str) -> list[RetiredKey]:
    """Every key the device rotated away from, oldest first."""
    with reading(target) as conn:
        rows = conn.execute(
            sa.select(
                DeviceKey.device_id,
                DeviceKey.kid,
                DeviceKey.public_key,
                DeviceKey.retired_at,
                DeviceKey.replaced_by,
                DeviceKey.command_id,
            )
            .where(DeviceKey.device_id == device_id)
            .order_by(DeviceKey.id)
        ).all()
    return [RetiredKey(r[0], r[1], bytes(r[2]), r[3], r[4], r[5]) for r in rows]


def bases_of(resolution: Resolution) -> Mapping[str, int]:
    """The bases as command arguments name them."""
    return {stream.value: base for stream, base in resolution.bases.items()}
