"""``/api/v1/audit``: the audit log (operators and admins)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from hub.api.deps import EngineDep, RequireOperator
from hub.api.models import AuditPublic
from hub.api.problems import PROBLEM_RESPONSES
from hub.operations import audit

router = APIRouter(prefix="/api/v1/audit", tags=["audit"], responses=PROBLEM_RESPONSES)


@router.get("", response_model=list[AuditPublic])
def list_audit(
    _operator: RequireOperator,
    engine: EngineDep,
    limit: Annotated[int, Query(ge=1, le=audit.MAX_PAGE)] = 100,
    before: Annotated[int | None, Query(ge=1, le=2**63 - 1, description="Entries older than this id.")] = None,
    target: Annotated[str | None, Query(max_length=128, description="e.g. device:scanner-01")] = None,
    action: Annotated[str | None, Query(max_length=64, description="e.g. device.decommission")] = None,
) -> list[AuditPublic]:
    """Newest first."""
    return [
        AuditPublic.of(view)
        for view in audit.entries(engine, limit=limit, before_id=before, subject=target, action=action)
    ]
