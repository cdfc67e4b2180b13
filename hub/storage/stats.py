"""Read-only aggregates for the operators' dashboard: decisions per site and hour, presence, versions, list currency.

Every figure is counted here from the stored rows, in SQL, on SQLite and PostgreSQL alike; nothing is copied from
another count. Scan events are placed in time by ``events.at`` (the terminal's clock when it decided, which the
terminal marks as trusted or not), not by when the hub received them, so a week of backlog arriving today is
counted in the hours it happened. Hours are UTC hours (``hour`` = Unix seconds of the hour's start).

Nothing here reads a pass text, a revocation id or an issuer: decisions and reason codes only.

Indexes: the time-window queries read ``events`` by ``at``; at a million events they want the index named in
``EVENTS_AT_INDEX`` (see ``docs/dashboard.md``); without it they still answer, by scanning the table.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub.storage.devices import DeviceStatus
from hub.storage.engine import Target, reading
from hub.storage.lists import TRUST_LIST_ID, ListKind
from hub.storage.models import Device, Event, ListDocument, Presence, Refusal
from protocol.topics import Stream

HOUR_S = 3600
DECISIONS = ("pass", "check", "deny", "invalid")
"""The decisions a terminal reaches, in the order the dashboard shows them."""
MAX_WINDOW_S = 31 * 24 * HOUR_S
"""The longest time window the statistics accept (a month of hours)."""
MAX_RECENT = 500
"""The most recent decisions of one device returned at once."""
EVENTS_AT_INDEX = "ix_events_at_device_id_decision_stream"
"""The index the time-window queries are written for: ``events (at, device_id, decision, stream)`` (covering)."""
MAX_UNIX_S = 2**40
"""Times past this (year ~36812) are not Unix seconds of this world."""
NO_SITE = ""
"""The site key of devices enrolled without a site."""


class StatsError(ValueError):
    """A statistics request the hub does not answer (a window too long, reversed, or not finite)."""


@dataclass(frozen=True, slots=True)
class Window:
    """A half-open time window ``[since, until)`` in Unix seconds."""

    since: float
    until: float

    def __post_init__(self) -> None:
        if not all(math.isfinite(t) and 0 <= t <= MAX_UNIX_S for t in (self.since, self.until)):
            raise StatsError("a window's times must be finite Unix seconds")
        if self.until < self.since:
            raise StatsError("a window must not end before it starts")
        if self.until - self.since > MAX_WINDOW_S:
            raise StatsError(f"a window may span at most {MAX_WINDOW_S // HOUR_S} hours")

    @classmethod
    def last(cls, seconds: float, *, now: float) -> Window:
        """The ``seconds`` before ``now``."""
        return cls(now - seconds, now)

    @classmethod
    def hours(cls, count: int, *, now: float) -> Window:
        """The last ``count`` whole UTC hours up to and including the current (partial) one."""
        if not 1 <= count <= MAX_WINDOW_S // HOUR_S:
            raise StatsError(f"hours must be in 1..{MAX_WINDOW_S // HOUR_S}")
        end = hour_of(now) + HOUR_S
        return cls(end - count * HOUR_S, end)


def hour_of(at: float) -> int:
    """The start of the UTC hour holding ``at``."""
    return int(at // HOUR_S) * HOUR_S


@dataclass(frozen=True, slots=True)
class DecisionCounts:
    """How many scan events reached each decision; decisions the terminals never report are kept apart."""

    counts: Mapping[str, int] = field(default_factory=dict)

    def __getitem__(self, decision: str) -> int:
        return int(self.counts.get(decision, 0))

    @property
    def total(self) -> int:
        """Every event counted."""
        return sum(self.counts.values())

    def as_dict(self) -> dict[str, int]:
        """The four decisions, zero where none, then any other one seen."""
        out = {decision: self[decision] for decision in DECISIONS}
        out.update({k: int(v) for k, v in sorted(self.counts.items()) if k not in out})
        return out


@dataclass(frozen=True, slots=True)
class HourlyCount:
    """Events of one site, hour and decision."""

    site: str
    hour: int
    decision: str
    count: int


@dataclass(frozen=True, slots=True)
class RecentDecision:
    """One decision of a terminal, without anything about the person: its time, outcome, reason and speed."""

    seq: int
    at: float
    time_source: str
    decision: str
    reason: str
    latency_ms: float | None
    received_at: float


@dataclass(frozen=True, slots=True)
class FleetEntry:
    """A device on the map: where it is, its status, and what the hub knows of its connection and versions."""

    device_id: str
    status: DeviceStatus
    profile: str
    site: str
    grid_cell: str
    state: str | None
    """``online``, ``offline``, ``stopped``, or None (never heard)."""
    connected: bool
    last_activity_at: float | None
    data_currency_at: float | None
    firmware: str | None
    backlog: Mapping[str, int] | None
    lists: Mapping[str, Any] | None


@dataclass(frozen=True, slots=True)
class ListVersion:
    """The newest version the hub holds of one district list, and when the district's last document came."""

    kind: ListKind
    list_id: str
    seq: int
    received_at: float


@dataclass(frozen=True, slots=True)
class DeviceLists:
    """What one device last said it holds, next to what the hub holds; ``stale`` names what lags behind."""

    device_id: str
    site: str
    state: str | None
    firmware: str | None
    trust: int | None
    revocations: Mapping[str, int | None]
    stale: tuple[str, ...]


def _events_in(window: Window) -> sa.ColumnElement[bool]:
    return sa.and_(Event.stream == Stream.EVENTS.value, Event.at >= window.since, Event.at < window.until)


def _hour_bucket(conn: Connection) -> sa.ColumnElement[int]:
    """``events.at`` rounded down to its hour number, in the dialect's arithmetic."""
    if conn.dialect.name == "postgresql":
        return sa.cast(sa.func.floor(Event.at / HOUR_S), sa.BigInteger)
    return sa.cast(Event.at / HOUR_S, sa.Integer)  # SQLite truncates toward zero; Unix times here are positive


def _site() -> sa.ColumnElement[str]:
    # A literal, not a bound parameter: PostgreSQL must see the same expression in SELECT and GROUP BY.
    return sa.func.coalesce(Device.site, sa.literal_column("''"))


def decision_counts(target: Target, window: Window, *, site: str | None = None) -> DecisionCounts:
    """Scan events per decision in ``window`` (of one site, or of all)."""
    query = sa.select(Event.decision, sa.func.count()).where(_events_in(window)).group_by(Event.decision)
    if site is not None:
        query = query.join(Device, Device.id == Event.device_id).where(_site() == site)
    with reading(target) as conn:
        rows = conn.execute(query).all()
    return DecisionCounts({str(decision): int(count) for decision, count in rows})


def decision_counts_by_site(target: Target, window: Window) -> dict[str, DecisionCounts]:
    """Scan events per site and decision in ``window``; sites without events are absent."""
    query = (
        sa.select(_site(), Event.decision, sa.func.count())
        .join(Device, Device.id == Event.device_id)
        .where(_events_in(window))
        .group_by(_site(), Event.decision)
    )
    with reading(target) as conn:
        rows = conn.execute(query).all()
    grouped: dict[str, dict[str, int]] = {}
    for site, decision, count in rows:
        grouped.setdefault(str(site), {})[str(decision)] = int(count)
    return {site: DecisionCounts(counts) for site, counts in sorted(grouped.items())}


def hourly_counts(target: Target, window: Window, *, site: str | None = None) -> list[HourlyCount]:
    """Scan events per site, UTC hour and decision in ``window``, by site, hour and decision."""
    with reading(target) as conn:
        bucket = _hour_bucket(conn).label("bucket")
        query = (
            sa.select(_site(), bucket, Event.decision, sa.func.count())
            .join(Device, Device.id == Event.device_id)
            .where(_events_in(window))
            .group_by(_site(), bucket, Event.decision)
            .order_by(_site(), bucket, Event.decision)
        )
        if site is not None:
            query = query.where(_site() == site)
        rows = conn.execute(query).all()
    return [HourlyCount(str(s), int(b) * HOUR_S, str(d), int(c)) for s, b, d, c in rows]


def device_decision_counts(target: Target, device_id: str, window: Window) -> DecisionCounts:
    """One device's scan events per decision in ``window`` (read through the events' primary key)."""
    query = (
        sa.select(Event.decision, sa.func.count())
        .where(Event.device_id == device_id, _events_in(window))
        .group_by(Event.decision)
    )
    with reading(target) as conn:
        rows = conn.execute(query).all()
    return DecisionCounts({str(decision): int(count) for decision, count in rows})


def recent_decisions(target: Target, device_id: str, *, limit: int = 50) -> list[RecentDecision]:
    """A device's newest scan events by sequence number, decisions and reasons only."""
    if not 1 <= limit <= MAX_RECENT:
        raise StatsError(f"limit must be in 1..{MAX_RECENT}")
    query = (
        sa.select(
            Event.seq, Event.at, Event.time_source, Event.decision, Event.reason, Event.latency_ms, Event.received_at
        )
        .where(Event.device_id == device_id, Event.stream == Stream.EVENTS.value)
        .order_by(Event.seq.desc())
        .limit(limit)
    )
    with reading(target) as conn:
        rows = conn.execute(query).all()
    return [RecentDecision(int(r[0]), r[1], r[2], r[3], r[4], r[5], r[6]) for r in rows]


_FLEET_COLUMNS = (
    Device.id,
    Device.status,
    Device.profile,
    Device.site,
    Device.grid_cell,
    Presence.state,
    Presence.connected,
    Presence.last_activity_at,
    Presence.data_currency_at,
    Presence.firmware,
)


def _fleet_entry(row: Sequence[Any]) -> FleetEntry:
    backlog = row[10] if len(row) > 10 else None
    lists = row[11] if len(row) > 11 else None
    return FleetEntry(
        device_id=row[0],
        status=DeviceStatus(row[1]),
        profile=row[2],
        site=row[3] or NO_SITE,
        grid_cell=row[4] or "",
        state=row[5],
        connected=bool(row[6]),
        last_activity_at=row[7],
        data_currency_at=row[8],
        firmware=row[9],
        backlog=backlog if isinstance(backlog, dict) else None,
        lists=lists if isinstance(lists, dict) else None,
    )


def _fleet_select(*, details: bool) -> sa.Select[Any]:
    columns = (*_FLEET_COLUMNS, Presence.backlog, Presence.lists) if details else _FLEET_COLUMNS
    return sa.select(*columns).outerjoin(Presence, Presence.device_id == Device.id)


def _fleet_filter(query: sa.Select[Any], site: str | None, state: str | None) -> sa.Select[Any]:
    if site is not None:
        query = query.where(_site() == site)
    if state is not None:
        query = query.where(_presence_group() == state)
    return query


def fleet(
    target: Target,
    *,
    site: str | None = None,
    state: str | None = None,
    details: bool = True,
    limit: int | None = None,
    offset: int = 0,
) -> list[FleetEntry]:
    """Devices (of one site, in one presence group, or all) by site, grid cell and id, with their presence.

    ``details``: also the backlog and the lists held (JSON, decoded per row); the map does without them.
    ``limit``/``offset``: one page of them.
    """
    query = _fleet_filter(_fleet_select(details=details), site, state).order_by(
        _site(), sa.func.coalesce(Device.grid_cell, ""), Device.id
    )
    if limit is not None:
        query = query.limit(max(1, limit)).offset(max(0, offset))
    with reading(target) as conn:
        rows = conn.execute(query).all()
    return [_fleet_entry(row) for row in rows]


def fleet_size(target: Target, *, site: str | None = None, state: str | None = None) -> int:
    """How many devices ``fleet`` would list without a limit."""
    query = sa.select(sa.func.count()).select_from(Device).outerjoin(Presence, Presence.device_id == Device.id)
    with reading(target) as conn:
        return int(conn.execute(_fleet_filter(query, site, state)).scalar_one())


def fleet_entry(target: Target, device_id: str) -> FleetEntry | None:
    """One device with its presence and details (None: no such device)."""
    with reading(target) as conn:
        row = conn.execute(_fleet_select(details=True).where(Device.id == device_id)).one_or_none()
    return None if row is None else _fleet_entry(row)


PRESENCE_KEYS = ("online", "offline", "stopped", "unknown", "decommissioned", "pending")
"""How the dashboard groups devices: a retired or pending device by its status, the others by presence."""


def presence_key(entry: FleetEntry) -> str:
    """The group a device is counted and coloured in (one of ``PRESENCE_KEYS``)."""
    if entry.status is DeviceStatus.DECOMMISSIONED:
        return "decommissioned"
    if entry.status is DeviceStatus.PENDING:
        return "pending"
    return entry.state or "unknown"


def _presence_group() -> sa.ColumnElement[str]:
    """``presence_key`` in SQL."""
    return sa.case(
        (Device.status == DeviceStatus.DECOMMISSIONED.value, sa.literal_column("'decommissioned'")),
        (Device.status == DeviceStatus.PENDING.value, sa.literal_column("'pending'")),
        else_=sa.func.coalesce(Presence.state, sa.literal_column("'unknown'")),
    )


def presence_keys(target: Target) -> dict[str, str]:
    """Every device's presence group (``presence_key``), by id: what the live map recolours."""
    query = sa.select(Device.id, _presence_group()).outerjoin(Presence, Presence.device_id == Device.id)
    with reading(target) as conn:
        return {str(device): str(key) for device, key in conn.execute(query).all()}


def presence_counts(target: Target) -> dict[str, int]:
    """Devices per presence group (``PRESENCE_KEYS``, zero where none), counted in SQL."""
    group = _presence_group()
    query = (
        sa.select(group, sa.func.count())
        .select_from(Device)
        .outerjoin(Presence, Presence.device_id == Device.id)
        .group_by(group)
    )
    with reading(target) as conn:
        rows = conn.execute(query).all()
    counts = dict.fromkeys(PRESENCE_KEYS, 0)
    for key, count in rows:
        counts[str(key)] = counts.get(str(key), 0) + int(count)
    return counts


def firmware_counts(target: Target) -> dict[str, int]:
    """Devices in service (not decommissioned) per firmware they last reported ("" when never heard)."""
    version = sa.func.coalesce(Presence.firmware, sa.literal_column("''"))
    query = (
        sa.select(version, sa.func.count())
        .select_from(Device)
        .outerjoin(Presence, Presence.device_id == Device.id)
        .where(Device.status != DeviceStatus.DECOMMISSIONED.value)
        .group_by(version)
        .order_by(version)
    )
    with reading(target) as conn:
        return {str(v): int(c) for v, c in conn.execute(query).all()}


def list_versions(target: Target) -> list[ListVersion]:
    """The newest version of each district list the hub holds, with when its newest document arrived."""
    query = (
        sa.select(
            ListDocument.kind,
            ListDocument.list_id,
            sa.func.max(ListDocument.seq),
            sa.func.max(ListDocument.received_at),
        )
        .group_by(ListDocument.kind, ListDocument.list_id)
        .order_by(ListDocument.kind, ListDocument.list_id)
    )
    with reading(target) as conn:
        rows = conn.execute(query).all()
    return [ListVersion(ListKind(k), str(i), int(s), float(r)) for k, i, s, r in rows]


def _held_int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def held_lists(lists: Mapping[str, Any] | None) -> tuple[int | None, dict[str, int | None]]:
    """The trust-list seq and revocation seqs a device's birth reported (anything malformed reads as unknown)."""
    if not lists:
        return None, {}
    trust = _held_int(lists.get("trust"))
    raw = lists.get("revocations")
    revocations = {str(k): _held_int(v) for k, v in raw.items()} if isinstance(raw, dict) else {}
    return trust, revocations


def stale_lists(entry: FleetEntry, current: Iterable[ListVersion]) -> tuple[str, ...]:
    """Which current lists ``entry`` holds an older version of (or none, or never said): ``trust``, list ids."""
    trust, revocations = held_lists(entry.lists)
    stale: list[str] = []
    for version in current:
        if version.kind is ListKind.TRUST:
            if trust is None or trust < version.seq:
                stale.append(TRUST_LIST_ID)
        elif version.list_id in revocations:
            held = revocations[version.list_id]
            if held is None or held < version.seq:
                stale.append(version.list_id)
    return tuple(stale)


def device_lists(target: Target) -> tuple[list[ListVersion], list[DeviceLists]]:
    """The hub's current lists, and for each device in service what it holds and what is stale.

    A device is stale on a revocation list only if it reported holding that list (terminals hold the one list of
    their district); on the trust list every device is compared.
    """
    current = list_versions(target)
    rows: list[DeviceLists] = []
    for entry in fleet(target):
        if entry.status is DeviceStatus.DECOMMISSIONED:
            continue
        trust, revocations = held_lists(entry.lists)
        rows.append(
            DeviceLists(
                device_id=entry.device_id,
                site=entry.site,
                state=entry.state,
                firmware=entry.firmware,
                trust=trust,
                revocations=revocations,
                stale=stale_lists(entry, current),
            )
        )
    return current, rows


def sites(target: Target) -> list[str]:
    """Every site a device is enrolled at, sorted ("" for devices without one)."""
    with reading(target) as conn:
        return [str(s) for s in conn.execute(sa.select(_site()).distinct().order_by(_site())).scalars()]


def device_refusals(target: Target, device_id: str) -> dict[str, int]:
    """How often the hub refused this device's messages, per reason (decommissioned: ``unknown_device``)."""
    query = sa.select(Refusal.reason, Refusal.count).where(Refusal.device_id == device_id).order_by(Refusal.reason)
    with reading(target) as conn:
        return {str(reason): int(count) for reason, count in conn.execute(query).all()}
