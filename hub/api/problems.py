"""Every error as problem JSON (RFC 9457): ``type``, ``title``, ``status``, ``detail``, ``instance``.

Operation errors map to one status each; validation errors carry ``errors`` (where and what, never the value
sent, which could be a password). A 401 on a dashboard page (not ``/api``, asked for by a browser) becomes a
redirect to the login page instead.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from prometheus_client import CollectorRegistry, Counter
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

from hub.operations.errors import (
    AuthenticationError,
    BrokerError,
    ConflictError,
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
    OperationError,
    RateLimitedError,
    UnavailableError,
)

log = logging.getLogger(__name__)

MEDIA_TYPE = "application/problem+json"
TYPE_BASE = "https://gridpass.invalid/problems/"
"""Problem types are URIs under this base (RFC 9457 §3.1.1: they identify, they need not resolve)."""
LOGIN_PATH = "/web/login"

STATUS = {
    InvalidInputError: 422,
    NotFoundError: 404,
    ConflictError: 409,
    ForbiddenError: 403,
    RateLimitedError: 429,
    AuthenticationError: 401,
    UnavailableError: 503,
    BrokerError: 502,
}
TITLES = {
    400: "Bad request",
    401: "Not authenticated",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Body too large",
    415: "Unsupported media type",
    422: "Invalid request",
    429: "Too many requests",
    500: "Internal error",
    502: "Broker error",
    503: "Unavailable",
}


class FieldProblem(BaseModel):
    """One invalid field."""

    loc: list[str | int] = Field(description="Where: body, query or path, then the field names.")
    msg: str = Field(description="What is wrong.")
    type: str = Field(description="Pydantic's error type.")


class Problem(BaseModel):
    """An error (RFC 9457)."""

    type: str = Field(description="A URI naming the kind of problem.")
    title: str = Field(description="Short summary of the kind of problem.")
    status: int = Field(description="The HTTP status.")
    detail: str | None = Field(default=None, description="What went wrong this time.")
    instance: str | None = Field(default=None, description="The request path.")
    code: str | None = Field(default=None, description="A stable reason for machines.")
    errors: list[FieldProblem] | None = Field(default=None, description="Invalid fields (validation errors).")


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem, "content": {MEDIA_TYPE: {}}, "description": TITLES[status]}
    for status in (401, 403, 404, 409, 413, 422, 429, 503)
}
"""The error responses every API route documents."""


def problem(
    status: int,
    detail: str | None = None,
    *,
    code: str | None = None,
    instance: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """A problem JSON response."""
    body = Problem(
        type=TYPE_BASE + (code or str(status)),
        title=TITLES.get(status, "Error"),
        status=status,
        detail=detail,
        instance=instance,
        code=code,
        errors=None if errors is None else [FieldProblem.model_validate(e) for e in errors],
    )
    return JSONResponse(body.model_dump(exclude_none=True), status_code=status, media_type=MEDIA_TYPE, headers=headers)


REFUSALS_METRIC = "gridpass_hub_http_refusals"


def refusal_counter(registry: CollectorRegistry) -> Counter:
    """The counter of refused HTTP requests by status, on the app's registry."""
    return Counter(REFUSALS_METRIC, "HTTP requests refused, by status.", ["status"], registry=registry)


def count_refusal(app: object, status: int) -> None:
    """Count one refused request on ``app``'s counter (an app without one counts nothing)."""
    counter = getattr(getattr(app, "state", None), "http_refusals", None)
    if isinstance(counter, Counter):
        counter.labels(str(status)).inc()


def _status_of(exc: OperationError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


def _wants_page(request: Request) -> bool:
    return not request.url.path.startswith("/api/") and "text/html" in request.headers.get("accept", "")


async def _operation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, OperationError)  # noqa: S101 - registered for this class only
    status = _status_of(exc)
    headers: dict[str, str] = {}
    if status == 401:
        if _wants_page(request):
            return RedirectResponse(f"{LOGIN_PATH}?next={quote(request.url.path)}", status_code=303)
        headers["WWW-Authenticate"] = "Bearer"
    if isinstance(exc, RateLimitedError):
        headers["Retry-After"] = str(max(1, int(exc.retry_after_s + 0.999)))
    if status == 500:
        log.error("operation failed: %s", exc)
    count_refusal(request.app, status)
    return problem(status, str(exc), code=exc.code, instance=request.url.path, headers=headers or None)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)  # noqa: S101 - registered for this class only
    detail = exc.detail if isinstance(exc.detail, str) else None
    count_refusal(request.app, exc.status_code)
    return problem(exc.status_code, detail, instance=request.url.path, headers=dict(exc.headers or {}) or None)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)  # noqa: S101 - registered for this class only
    count_refusal(request.app, 422)
    errors = [
        {"loc": [str(p) if not isinstance(p, int) else p for p in e.get("loc", ())], "msg": str(e.get("msg", "")),
         "type": str(e.get("type", ""))}
        for e in exc.errors()[:50]
    ]  # fmt: skip
    return problem(422, "the request does not match the schema", code="invalid", instance=request.url.path,
                   errors=errors)  # fmt: skip


def install(app: FastAPI) -> None:
    """Register the problem handlers on ``app``."""
    app.add_exception_handler(OperationError, _operation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
