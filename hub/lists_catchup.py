"""Which stored revocation documents take a terminal from the version it holds to the current one.

The retained ``dist/{list}/revocations`` message carries only the current update; a terminal that missed some (it was
offline through several updates, or it is new) cannot apply a delta whose base it does not hold. Its birth reports
the version it holds, and the hub answers on the terminal's own ``down/lists``: the deltas in order when a chain of
deltas leads from that version, else the newest snapshot and the deltas since it.
"""

from __future__ import annotations

from hub.storage.engine import Target
from hub.storage.lists import StoredDocument, current_revocation, latest_snapshot, revocation_updates_since

MAX_DELTAS = 32
"""A longer chain is replaced by the snapshot (fewer bytes and fewer steps for the terminal)."""


def catch_up(target: Target, list_id: str, held: int) -> list[StoredDocument]:
    """The documents to send, in order; ``[]`` when ``held`` is current or the hub has nothing that helps."""
    current = current_revocation(target, list_id)
    if current is None or current.seq <= held:
        return []
    chain = revocation_updates_since(target, list_id, held) if held > 0 else None
    if chain is not None and len(chain) <= MAX_DELTAS:
        return chain
    snapshot = latest_snapshot(target, list_id)
    if snapshot is None or snapshot.seq <= held:
        return chain[:MAX_DELTAS] if chain else []
    since = revocation_updates_since(target, list_id, snapshot.seq) or []
    return [snapshot, *since[:MAX_DELTAS]]
