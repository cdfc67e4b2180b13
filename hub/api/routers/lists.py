"""``/api/v1/lists``: list versions at the hub and at each terminal."""

from __future__ import annotations

from fastapi import APIRouter

from hub.api.deps import EngineDep, RequireViewer
from hub.api.models import HeldListPublic, ListsPublic, TerminalListsPublic
from hub.api.problems import PROBLEM_RESPONSES
from hub.operations import lists

router = APIRouter(prefix="/api/v1/lists", tags=["lists"], responses=PROBLEM_RESPONSES)


@router.get("", response_model=ListsPublic)
def list_versions(_viewer: RequireViewer, engine: EngineDep) -> ListsPublic:
    """The trust list and revocation versions the hub passes down, and what each terminal reported holding."""
    overview = lists.overview(engine)
    return ListsPublic(
        hub=[
            HeldListPublic(
                kind=d.kind.value, list_id=d.list_id, seq=d.seq, base=d.base, ts=d.ts, received_at=d.received_at
            )
            for d in overview.hub
        ],
        terminals=[TerminalListsPublic(device_id=device, lists=held) for device, held in overview.terminals],
    )
