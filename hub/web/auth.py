"""Logging in and out of the dashboard, through the API's session operations (``hub.operations.auth``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from hub.accounts.passwords import MAX_PASSWORD_CHARS
from hub.accounts.ratelimit import LoginPolicy
from hub.api.deps import SESSION_COOKIE, ClientDep, ContextDep
from hub.operations import auth
from hub.operations.errors import AuthenticationError, OperationError, RateLimitedError
from hub.storage.models import USERNAME_LEN
from hub.web.session import HOME_PATH, MAX_NEXT_CHARS, Csrf, PagePrincipal, csrf_ok, page, safe_next

router = APIRouter(prefix="/web", include_in_schema=False)


@router.get("/login", response_class=HTMLResponse)
def login_page(principal: PagePrincipal, context: ContextDep, next: str = HOME_PATH) -> Response:  # noqa: A002
    """The login form (a logged-in user goes straight on)."""
    target = safe_next(next)
    if principal is not None:
        return RedirectResponse(target, status_code=303)
    return page("login.html", {"error": None, "username": "", "next": target}, principal=None,
                now=context.services.clock())  # fmt: skip


@router.post("/login")
def login_submit(
    context: ContextDep,
    client: ClientDep,
    username: Annotated[str, Form(max_length=USERNAME_LEN)],
    password: Annotated[str, Form(max_length=MAX_PASSWORD_CHARS)],
    next: Annotated[str, Form(max_length=MAX_NEXT_CHARS)] = HOME_PATH,  # noqa: A002
) -> Response:
    """Check the password (rate-limited, audited by the operation) and set the session cookie."""
    now = context.services.clock()
    settings = context.settings
    policy = LoginPolicy(settings.login_max_failures, settings.login_window_s)
    target = safe_next(next)
    try:
        session = auth.login(
            context.services.engine, username, password, client=client, now=now, policy=policy,
            session_ttl_s=settings.session_ttl_s,
        )  # fmt: skip
    except RateLimitedError:
        return _form_again(username, target, "Too many wrong logins: wait a few minutes.", 429, now)
    except AuthenticationError:
        return _form_again(username, target, "Wrong user name or password.", 401, now)
    except OperationError:
        return _form_again(username, target, "The hub cannot check logins right now: try again.", 503, now)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE, session.cookie, max_age=int(settings.session_ttl_s), path="/", secure=settings.cookie_secure,
        httponly=True, samesite="strict",
    )  # fmt: skip
    return response


def _form_again(username: str, target: str, error: str, status: int, now: float) -> Response:
    return page("login.html", {"error": error, "username": username[:USERNAME_LEN], "next": target}, principal=None,
                now=now, status_code=status)  # fmt: skip


@router.post("/logout")
def logout(principal: PagePrincipal, context: ContextDep, client: ClientDep, csrf_token: Csrf = "") -> Response:
    """End the session (a stale form or no session just lands on the login page)."""
    if principal is not None and csrf_ok(principal, csrf_token):
        auth.logout(context.services.engine, principal, client=client, now=context.services.clock())
    response = RedirectResponse("/web/login", status_code=303)
    if principal is None or csrf_ok(principal, csrf_token):
        response.delete_cookie(SESSION_COOKIE, path="/")
    return response
