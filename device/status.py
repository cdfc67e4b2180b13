"""The terminal's status: what ``gridpass device status`` prints and the hub will read from the birth message.

Gathered from the store, the lists and the clock; pure assembly, no I/O of its own beyond what it is handed.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from device.clock import ClockTrust
from device.config import DeviceConfig
from device.lists.source import StoredLists
from device.store import DeviceStore


def collect(
    config: DeviceConfig,
    store: DeviceStore,
    lists: StoredLists | None,
    clock: ClockTrust,
    *,
    problems: list[str],
    data_dir: Path | None = None,
    snapshots: dict[str, Any] | None = None,
    handheld: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A JSON-ready status document (``snapshots``: a camera terminal's snapshot service status)."""
    now = clock.now()
    last = store.last_event()
    status: dict[str, Any] = {
        "device": config.device.id,
        "profile": config.device.profile,
        "site": config.device.site,
        "grid_cell": config.device.grid_cell,
        "clock": {
            "now": now,
            "source": clock.source().value,
            "last_trusted": clock.last_trusted,
            "behind_last_trusted": not clock.state().vouches_for(now),
        },
        "streams": store.counts(),
        "storage": {"db_bytes": store.size_bytes(), "unstored_since_start": store.unstored},
        "last_decision": None
        if last is None
        else {"at": last.event.at, "decision": last.event.decision, "reason": last.event.reason, "seq": last.seq},
        "problems": list(problems),
    }
    if snapshots is not None:
        status["snapshots"] = snapshots
    if handheld is not None:  # GPS state and counters, incidents filed and refused, the page
        status["handheld"] = handheld
    if data_dir is not None and data_dir.exists():
        usage = shutil.disk_usage(data_dir)
        status["storage"].update({"disk_free_bytes": usage.free, "disk_total_bytes": usage.total})
    if lists is not None:
        current_at = lists.current_at()
        revocations = lists.revocations
        status["lists"] = {
            "trust_seq": lists.trust.seq,
            "trust_ts": lists.trust.current.ts or None,
            "revocation_list": config.lists.list_id,
            "revocation_seq": revocations.seq if revocations is not None else None,
            "revocation_entries": len(revocations) if revocations is not None else None,
            "current_at": current_at,
            "age_s": None if current_at is None else now - current_at,
            "stale": current_at is None or now - current_at > config.scan.max_list_age_s,
        }
    return status
