"""``/healthz`` (the only route besides login that needs no login), ``/metrics`` and the OpenAPI document."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from hub.api.deps import ContextDep, CurrentUser
from hub.api.models import HealthPublic
from hub.api.problems import PROBLEM_RESPONSES
from hub.operations.errors import UnavailableError
from hub.storage.engine import reading
from hub.storage.errors import StorageError

router = APIRouter()


@router.get("/healthz", response_model=HealthPublic, tags=["health"], responses={503: PROBLEM_RESPONSES[503]})
def healthz(context: ContextDep) -> HealthPublic:
    """The database answers (503 otherwise); the broker link's state is reported, not required."""
    try:
        with reading(context.services.engine) as conn:
            conn.execute(sa.select(1))
    except StorageError as exc:
        raise UnavailableError("the database does not answer") from exc
    publisher = context.services.publisher
    broker = "none" if publisher is None else "connected" if getattr(publisher, "connected", True) else "disconnected"
    return HealthPublic(status="ok", database="ok", broker=broker)


@router.get(
    "/metrics",
    tags=["health"],
    response_class=Response,
    responses={
        200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text format."},
        401: PROBLEM_RESPONSES[401],
    },
)
def metrics(context: ContextDep, _principal: CurrentUser) -> Response:
    """Prometheus metrics; scrape with an API token (``bearer_token_file``) of any role."""
    return Response(generate_latest(context.registry), media_type=CONTENT_TYPE_LATEST)


@router.get("/api/v1/openapi.json", tags=["health"], responses={401: PROBLEM_RESPONSES[401]})
def openapi(request: Request, _principal: CurrentUser) -> dict[str, Any]:
    """This API's OpenAPI document (also committed as ``docs/openapi.json``)."""
    document: dict[str, Any] = request.app.openapi()
    return document
