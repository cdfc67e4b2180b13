"""Who is looking at a dashboard page, and the page responses themselves.

The dashboard uses the API's session (``hub.operations.auth``: the ``gridpass_session`` cookie, a CSRF token kept
with the session). A page asked for without a valid session redirects to the login page; a form that changes
something must carry the session's CSRF token in its ``csrf_token`` field, else it is refused with a 403 page. What
an operator may do is decided by the operations themselves (``hub.operations``); the pages only hide the buttons a
viewer could not use.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

from fastapi import Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from hub.accounts.roles import Role
from hub.accounts.secrets import same
from hub.api.deps import CSRF_FIELD, SESSION_COOKIE, ContextDep
from hub.operations.auth import Principal, resolve_session
from hub.web.templating import render

LOGIN_PATH = "/web/login"
HOME_PATH = "/web/"
MAX_NEXT_CHARS = 512
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
"""Every page: only the hub's own scripts, styles and images; never framed; never cached (it shows live data)."""


async def page_principal(request: Request, context: ContextDep) -> Principal | None:
    """The session's principal, or None (no cookie, ended, or unknown)."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie is None:
        return None
    return await run_in_threadpool(resolve_session, context.services.engine, cookie, now=context.services.clock())


PagePrincipal = Annotated[Principal | None, Depends(page_principal)]


@dataclass(frozen=True, slots=True)
class Flash:
    """A one-line message at the top of a page."""

    kind: str
    """``ok`` or ``error``."""
    text: str


def safe_next(target: str | None) -> str:
    """Where to go after logging in: a path of the dashboard itself, never another site."""
    if not target or len(target) > MAX_NEXT_CHARS:
        return HOME_PATH
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/web/") or target.startswith("//"):
        return HOME_PATH
    return target


def login_redirect(request: Request) -> RedirectResponse:
    """To the login page, coming back here afterwards."""
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"{LOGIN_PATH}?next={quote(safe_next(here), safe='/')}", status_code=303)


def can_act(principal: Principal | None) -> bool:
    """Whether the page shows the operator's buttons."""
    return principal is not None and principal.role.allows(Role.OPERATOR)


def user_context(principal: Principal | None) -> dict[str, Any]:
    """What every page's header needs."""
    if principal is None:
        return {"user": None, "csrf": ""}
    return {
        "user": {"username": principal.username, "role": principal.role.value},
        "csrf": principal.csrf_token or "",
    }


def page(
    template: str,
    context: dict[str, Any],
    *,
    principal: Principal | None,
    now: float,
    status_code: int = 200,
    flash: Flash | None = None,
) -> HTMLResponse:
    """A rendered page with the dashboard's security headers."""
    full = {"now": now, "flash": flash, "section": "", **user_context(principal), **context}
    return HTMLResponse(render(template, full), status_code=status_code, headers=SECURITY_HEADERS)


def error_page(status: int, title: str, message: str, *, principal: Principal | None, now: float) -> HTMLResponse:
    """An error as a page."""
    return page(
        "error.html", {"status": status, "title": title, "message": message}, principal=principal, now=now,
        status_code=status,
    )  # fmt: skip


def csrf_ok(principal: Principal, sent: object) -> bool:
    """Whether a form carried the session's CSRF token."""
    return isinstance(sent, str) and principal.csrf_token is not None and same(sent, principal.csrf_token)


async def form_of(request: Request) -> dict[str, str]:
    """A posted form's text fields (files and repeated names are not dashboard inputs: last value wins)."""
    form = await request.form()
    return {key: value for key, value in form.items() if isinstance(value, str)}


def back_to(path: str, message: Flash | None = None) -> Response:
    """After a form: back to a page (Post/Redirect/Get), carrying a short outcome in the query."""
    if message is None:
        return RedirectResponse(path, status_code=303)
    flag = "ok" if message.kind == "ok" else "error"
    return RedirectResponse(f"{path}?{flag}={quote(message.text[:200])}", status_code=303)


def flash_of(request: Request) -> Flash | None:
    """The outcome a redirect carried (shown as text, escaped by the template)."""
    for kind in ("ok", "error"):
        value = request.query_params.get(kind)
        if value:
            return Flash(kind, value[:200])
    return None


MAX_CSRF_CHARS = 128
Csrf = Annotated[str, Form(alias=CSRF_FIELD, max_length=MAX_CSRF_CHARS)]
"""A form's CSRF token field (the API's name for it, ``csrf_token``)."""
