"""Decision triggers: a forged or revoked pass at a checkpoint asks the camera terminals of the same site for a
snapshot now (camera issue: "trigger ... a scanner decision such as a forged or revoked pass at the same checkpoint").

Terminals cannot read each other's topics, so the hub joins them: when it stores fresh scan events of a site, it
sends ``snapshot_now`` through the ordinary command path (stored, audited as the hub's own actor, answered by the
camera). Only fresh decisions count (a week-old backlog arriving after an outage is history, not an incident), and a
site is triggered at most once per ``min_interval_s``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from hub.accounts.roles import Role
from hub.operations import commands
from hub.operations.audit import Actor
from hub.operations.errors import OperationError
from hub.operations.ports import Publisher
from hub.storage.devices import DeviceStatus
from hub.storage.engine import reading
from hub.storage.errors import StorageError
from hub.storage.models import Device
from protocol.messages import Command
from protocol.reasons import Reason
from protocol.records import ScanRecord

log = logging.getLogger(__name__)

TRIGGER_REASONS = frozenset(
    {Reason.REVOKED.value, Reason.BAD_SIGNATURE.value, Reason.UNKNOWN_KID.value, Reason.UNTRUSTED_ISSUER.value}
)
"""Revoked, and the three ways a forged pass shows (a signature that fails, a key or an issuer nobody trusts)."""
FRESH_S = 120.0
MIN_INTERVAL_S = 30.0
COMMAND_TTL_S = 60.0
"""A snapshot asked for and not taken within a minute is of no use."""
ACTOR = Actor("hub:trigger", Role.OPERATOR, "hub")


@dataclass
class SnapshotTriggers:
    """Sends ``snapshot_now`` to a site's camera terminals on fresh forged or revoked decisions there."""

    engine: Engine
    publisher: Callable[[], Publisher | None]
    clock: Callable[[], float]
    reasons: frozenset[str] = TRIGGER_REASONS
    fresh_s: float = FRESH_S
    min_interval_s: float = MIN_INTERVAL_S
    sent: int = 0
    _last: dict[str, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def after_events(self, device_id: str, records: Iterable[ScanRecord]) -> int:
        """Called with the scan records just stored for a device; returns how many commands were sent."""
        now = self.clock()
        hit = next((r for r in records if r.reason in self.reasons and now - r.at <= self.fresh_s), None)
        if hit is None:
            return 0
        try:
            site, cameras = self._cameras_beside(device_id)
        except StorageError as exc:
            log.warning("cannot look up the cameras beside %s: %s", device_id, exc)
            return 0
        if site is None or not cameras:
            return 0
        with self._lock:
            if now - self._last.get(site, -self.min_interval_s) < self.min_interval_s:
                return 0
            self._last[site] = now
        sent = 0
        args = {"trigger": hit.reason, "decision": hit.decision, "from": device_id}
        for camera in cameras:
            try:
                commands.send(
                    self.engine,
                    ACTOR,
                    camera,
                    Command.SNAPSHOT_NOW,
                    args,
                    now=now,
                    publisher=self.publisher(),
                    ttl_s=COMMAND_TTL_S,
                )
            except (OperationError, StorageError) as exc:
                log.warning("snapshot trigger for %s not sent: %s", camera, exc)
                continue
            sent += 1
        with self._lock:
            self.sent += sent
        log.info("%s decision at %s: asked %d camera(s) for a snapshot", hit.reason, site, sent)
        return sent

    def _cameras_beside(self, device_id: str) -> tuple[str | None, list[str]]:
        with reading(self.engine) as conn:
            site = conn.execute(sa.select(Device.site).where(Device.id == device_id)).scalar_one_or_none()
            if site is None:
                return None, []
            cameras = conn.execute(
                sa.select(Device.id).where(
                    Device.site == site, Device.profile == "camera", Device.status == DeviceStatus.ENROLLED.value
                )
            ).scalars()
            return site, sorted(cameras)
