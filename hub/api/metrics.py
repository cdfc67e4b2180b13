"""Prometheus metrics of the hub, read at scrape time: from the database (hub-wide) and from the ingest worker
running in the same process (its own counters; ``rate()`` of them is the ingest rate, summed over workers).

| metric | what |
|---|---|
| `gridpass_hub_records_stored_total`, `gridpass_hub_records_duplicate_total` | this worker's ingest (records) |
| `gridpass_hub_worker_refusals_total{reason}` | this worker's refused messages |
| `gridpass_hub_refusals_total{reason}` | every worker's refused messages, from the database |
| `gridpass_hub_device_backlog{device,stream}` | the backlog each terminal reported in its last birth |
| `gridpass_hub_device_connected{device}` | 1 while the terminal's birth is the last word |
| `gridpass_hub_devices{status}` | devices by status |
| `gridpass_hub_relay_queue_depth`, `gridpass_hub_relay_oldest_age_seconds` | the district relay's outbox |
| `gridpass_hub_list_version{kind,list}` | the list versions the hub holds |
| `gridpass_hub_device_list_version{device,list}` | the versions each terminal reported |
| `gridpass_hub_database_up` | 0 when the database could not be read for this scrape |
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from hub.api.services import HubServices
from hub.operations.errors import OperationError
from hub.operations.fleet import status_counts
from hub.operations.lists import hub_versions
from hub.operations.stats import refusals_by_reason
from hub.storage.engine import reading
from hub.storage.errors import StorageError
from hub.storage.models import Device, Presence, RelayOutbox

log = logging.getLogger(__name__)


class HubCollector(Collector):
    """Collects the hub's metrics on every scrape."""

    def __init__(self, services: HubServices) -> None:
        self.services = services

    def collect(self) -> Iterator[Metric]:
        """One scrape."""
        yield from self._ingest()
        try:
            metrics = list(self._database())
        except (StorageError, OperationError) as exc:
            log.warning("metrics: cannot read the database: %s", exc)
            metrics = []
        up = GaugeMetricFamily("gridpass_hub_database_up", "Whether the database could be read for this scrape.")
        up.add_metric([], 1 if metrics else 0)
        yield up
        yield from metrics

    def _ingest(self) -> Iterator[Metric]:
        ingest = self.services.ingest
        if ingest is None:
            return
        yield CounterMetricFamily("gridpass_hub_records_stored", "Records this worker stored.", value=ingest.stored)
        yield CounterMetricFamily(
            "gridpass_hub_records_duplicate", "Records this worker received again (stored once).",
            value=ingest.duplicates,
        )  # fmt: skip
        refused = CounterMetricFamily(
            "gridpass_hub_worker_refusals", "Messages this worker refused.", labels=["reason"]
        )
        for reason, count in sorted(ingest.refusals.items()):
            refused.add_metric([reason], count)
        yield refused

    def _database(self) -> Iterator[Metric]:
        engine, now = self.services.engine, self.services.clock()
        refusals = CounterMetricFamily("gridpass_hub_refusals", "Refused messages, every worker.", labels=["reason"])
        for reason, count in refusals_by_reason(engine).items():
            refusals.add_metric([reason], count)
        devices = GaugeMetricFamily("gridpass_hub_devices", "Devices by status.", labels=["status"])
        for status, count in status_counts(engine).items():
            devices.add_metric([status], count)
        backlog = GaugeMetricFamily(
            "gridpass_hub_device_backlog",
            "Backlog each terminal reported at its last birth.",
            labels=["device", "stream"],
        )
        connected = GaugeMetricFamily("gridpass_hub_device_connected", "1 while connected.", labels=["device"])
        device_lists = GaugeMetricFamily(
            "gridpass_hub_device_list_version", "List versions each terminal reported.", labels=["device", "list"]
        )
        with reading(engine) as conn:
            rows = conn.execute(
                sa.select(Presence.device_id, Presence.connected, Presence.backlog, Presence.lists)
                .join(Device, Device.id == Presence.device_id)
                .where(Device.status == "enrolled")
                .order_by(Presence.device_id)
            ).all()
            depth, oldest = conn.execute(
                sa.select(sa.func.count(), sa.func.min(RelayOutbox.created_at)).where(
                    RelayOutbox.delivered_at.is_(None)
                )
            ).one()
        for device_id, is_connected, device_backlog, lists in rows:
            connected.add_metric([device_id], 1 if is_connected else 0)
            for stream, count in sorted((device_backlog or {}).items()):
                backlog.add_metric([device_id, stream], count)
            for name, version in _list_versions(lists):
                device_lists.add_metric([device_id, name], version)
        relay_depth = GaugeMetricFamily("gridpass_hub_relay_queue_depth", "Batches waiting for the district relay.")
        relay_depth.add_metric([], int(depth))
        relay_age = GaugeMetricFamily(
            "gridpass_hub_relay_oldest_age_seconds", "Age of the oldest batch waiting for the relay (0: none)."
        )
        relay_age.add_metric([], 0.0 if oldest is None else max(0.0, now - oldest))
        versions = GaugeMetricFamily(
            "gridpass_hub_list_version", "List versions the hub holds.", labels=["kind", "list"]
        )
        for (kind, list_id), seq in sorted(hub_versions(engine).items()):
            versions.add_metric([kind, list_id], seq)
        yield from (refusals, devices, backlog, connected, device_lists, relay_depth, relay_age, versions)


def _list_versions(lists: dict[str, Any] | None) -> Iterator[tuple[str, int]]:
    """``trust`` and each revocation list's version from a birth's ``lists`` detail; anything else is skipped."""
    if not isinstance(lists, dict):
        return
    trust = lists.get("trust")
    if isinstance(trust, int) and not isinstance(trust, bool):
        yield "trust", trust
    revocations = lists.get("revocations")
    if isinstance(revocations, dict):
        for list_id, seq in sorted(revocations.items()):
            if isinstance(seq, int) and not isinstance(seq, bool):
                yield str(list_id)[:64], seq
