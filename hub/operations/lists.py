"""List versions: what the hub holds and passes down, and what each terminal reported holding."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from hub.operations.errors import translated
from hub.storage.engine import Target, reading
from hub.storage.lists import ListKind, StoredDocument, current_revocation, current_trust_list, revocation_list_ids
from hub.storage.models import Device, Presence


@dataclass(frozen=True, slots=True)
class ListsOverview:
    """The hub's current documents and each terminal's reported versions."""

    hub: list[StoredDocument]
    terminals: list[tuple[str, dict[str, Any] | None]]


def overview(target: Target) -> ListsOverview:
    """Current trust list and each revocation list's current version; each terminal's last reported ``lists``."""
    with translated():
        held: list[StoredDocument] = []
        trust = current_trust_list(target)
        if trust is not None:
            held.append(trust)
        for list_id in revocation_list_ids(target):
            current = current_revocation(target, list_id)
            if current is not None:
                held.append(current)
        with reading(target) as conn:
            rows = conn.execute(
                sa.select(Device.id, Presence.lists)
                .outerjoin(Presence, Presence.device_id == Device.id)
                .where(Device.status != "decommissioned")
                .order_by(Device.id)
            ).all()
    return ListsOverview(held, [(row[0], row[1]) for row in rows])


def hub_versions(target: Target) -> dict[tuple[str, str], int]:
    """(kind, list id) -> the current seq the hub holds."""
    return {(doc.kind.value, doc.list_id): doc.seq for doc in overview(target).hub}


__all__ = ["ListKind", "ListsOverview", "hub_versions", "overview"]
