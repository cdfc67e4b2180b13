"""Typed dependencies of the API routers and the dashboard's pages (FastAPI's ``Annotated[..., Depends()]`` aliases).

- ``ContextDep``: the app's ``WebContext`` (settings, services, metrics registry) set by ``create_app``.
- ``EngineDep`` (alias ``SessionDep``): the hub database engine; operations open their own transactions.
- ``NowDep``: the injected clock's time; ``ClientDep``: the client's address (for the audit log and rate limit).
- ``CurrentUser``: the principal of the request, from ``Authorization: Bearer gph_...`` or the session cookie; no
  valid one is a 401. A request made with the session cookie that changes something (not GET, HEAD, OPTIONS) must
  echo the session's CSRF token in the ``X-CSRF-Token`` header or, for a form post, the ``csrf_token`` field.
- ``RequireOperator``, ``RequireAdmin``: the same, and a 403 below that role (``RequireViewer`` is ``CurrentUser``).
- ``actor(principal, client)``: the principal as the actor of an operation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from prometheus_client import CollectorRegistry
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool

from hub.accounts.roles import Role
from hub.accounts.secrets import same
from hub.api.services import HubServices
from hub.config import WebSection
from hub.operations.audit import Actor
from hub.operations.auth import Principal, resolve_session, resolve_token
from hub.operations.errors import AuthenticationError, ForbiddenError

SESSION_COOKIE = "gridpass_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


@dataclass(frozen=True)
class WebContext:
    """What ``create_app`` was given, as the routers see it."""

    settings: WebSection
    services: HubServices
    registry: CollectorRegistry


def get_context(request: Request) -> WebContext:
    """The app's context."""
    context: WebContext = request.app.state.gridpass
    return context


ContextDep = Annotated[WebContext, Depends(get_context)]


def get_engine(context: ContextDep) -> Engine:
    """The hub database engine."""
    return context.services.engine


EngineDep = Annotated[Engine, Depends(get_engine)]
SessionDep = EngineDep
"""The same as ``EngineDep``: the hub's storage functions take an engine and open their own transactions."""


def get_now(context: ContextDep) -> float:
    """The injected clock's time (Unix seconds)."""
    return context.services.clock()


NowDep = Annotated[float, Depends(get_now)]


def get_client(request: Request) -> str:
    """The client's address (the peer; put a proxy's real-client handling in the proxy's own config)."""
    return request.client.host if request.client is not None else "unknown"


ClientDep = Annotated[str, Depends(get_client)]


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise AuthenticationError("the Authorization header is not 'Bearer TOKEN'")
    return value.strip()


async def _csrf_ok(request: Request, principal: Principal) -> bool:
    if principal.csrf_token is None:
        return False
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(FORM_TYPES):
        value = (await request.form()).get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    return sent is not None and same(sent, principal.csrf_token)


async def current_principal(request: Request, context: ContextDep) -> Principal:
    """Who the request acts as; a 401 problem when nobody (or CSRF missing on a cookie-authenticated change)."""
    engine, now = context.services.engine, context.services.clock()
    token = _bearer(request)
    if token is not None:
        principal = await run_in_threadpool(resolve_token, engine, token, now=now)
        if principal is None:
            raise AuthenticationError("the token is unknown, expired or revoked")
        return principal
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie is None:
        raise AuthenticationError("log in, or send 'Authorization: Bearer TOKEN'")
    principal = await run_in_threadpool(resolve_session, engine, cookie, now=now)
    if principal is None:
        raise AuthenticationError("the session has ended: log in again")
    if request.method not in SAFE_METHODS and not await _csrf_ok(request, principal):
        raise ForbiddenError(f"a change made with the session cookie needs its CSRF token ({CSRF_HEADER})")
    return principal


CurrentUser = Annotated[Principal, Depends(current_principal)]
RequireViewer = CurrentUser


def require_operator(principal: CurrentUser) -> Principal:
    """The principal, if an operator or admin."""
    if not principal.role.allows(Role.OPERATOR):
        raise ForbiddenError("this needs the operator role")
    return principal


def require_admin(principal: CurrentUser) -> Principal:
    """The principal, if an admin."""
    if not principal.role.allows(Role.ADMIN):
        raise ForbiddenError("this needs the admin role")
    return principal


RequireOperator = Annotated[Principal, Depends(require_operator)]
RequireAdmin = Annotated[Principal, Depends(require_admin)]


def actor(principal: Principal, client: str | None) -> Actor:
    """The principal as the actor of an operation (its audit rows name it)."""
    return principal.actor(client)
