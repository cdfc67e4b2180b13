"""``/api/v1/stats``: basic figures."""

from __future__ import annotations

from fastapi import APIRouter

from hub.api.deps import EngineDep, RequireViewer
from hub.api.models import StatsPublic
from hub.api.problems import PROBLEM_RESPONSES
from hub.operations import stats

router = APIRouter(prefix="/api/v1/stats", tags=["stats"], responses=PROBLEM_RESPONSES)


@router.get("", response_model=StatsPublic)
def get_stats(_viewer: RequireViewer, engine: EngineDep) -> StatsPublic:
    """Devices by status, online now, events stored and by decision, refusals by reason, relay backlog."""
    figures = stats.stats(engine)
    return StatsPublic(
        devices=figures.devices, online=figures.online, events=figures.events,
        events_by_decision=figures.events_by_decision, refusals=figures.refusals, relay_pending=figures.relay_pending,
    )  # fmt: skip
