"""``/api/v1/auth``: log in (session cookie), log out, who am I, API tokens."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response, status
from starlette.concurrency import run_in_threadpool

from hub.accounts.ratelimit import LoginPolicy
from hub.accounts.roles import Role
from hub.api.deps import SESSION_COOKIE, ClientDep, ContextDep, CurrentUser, EngineDep, NowDep, actor
from hub.api.models import LoginCreate, MePublic, SessionPublic, TokenCreate, TokenCreated, TokenPublic
from hub.api.problems import PROBLEM_RESPONSES
from hub.config import WebSection
from hub.operations import auth
from hub.operations.auth import NewSession

router = APIRouter(prefix="/api/v1/auth", tags=["auth"], responses=PROBLEM_RESPONSES)


def set_session_cookie(response: Response, session: NewSession, settings: WebSection, now: float) -> None:
    """The session cookie: HttpOnly, SameSite=Strict, Secure unless configured off (plain loopback)."""
    response.set_cookie(
        SESSION_COOKIE, session.cookie, max_age=max(1, int(session.expires_at - now)), path="/",
        secure=settings.cookie_secure, httponly=True, samesite="strict",
    )  # fmt: skip


def clear_session_cookie(response: Response, settings: WebSection) -> None:
    """Tell the browser to forget the session cookie."""
    response.delete_cookie(SESSION_COOKIE, path="/", secure=settings.cookie_secure, httponly=True, samesite="strict")


def login_policy(settings: WebSection) -> LoginPolicy:
    """The wrong-login limit configured in ``[web]``."""
    return LoginPolicy(settings.login_max_failures, settings.login_window_s)


@router.post("/login", response_model=SessionPublic)
async def login(*, body: LoginCreate, response: Response, context: ContextDep, client: ClientDep) -> SessionPublic:
    """Open a dashboard session: sets the session cookie; the CSRF token goes with changes made through it."""
    now = context.services.clock()
    session = await run_in_threadpool(
        auth.login, context.services.engine, body.username, body.password, client=client, now=now,
        policy=login_policy(context.settings), session_ttl_s=context.settings.session_ttl_s,
    )  # fmt: skip
    set_session_cookie(response, session, context.settings, now)
    return SessionPublic(
        username=session.user.username, role=session.user.role, csrf_token=session.csrf_token,
        expires_at=session.expires_at,
    )  # fmt: skip


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
def logout(*, principal: CurrentUser, context: ContextDep, client: ClientDep, now: NowDep) -> Response:
    """End this session (a token stays valid: revoke it instead)."""
    auth.logout(context.services.engine, principal, client=client, now=now)
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    clear_session_cookie(response, context.settings)
    return response


@router.get("/me", response_model=MePublic)
def me(*, principal: CurrentUser) -> MePublic:
    """Who this request acts as."""
    return MePublic(username=principal.username, role=principal.role, via=principal.via)


@router.post("/tokens", response_model=TokenCreated, status_code=status.HTTP_201_CREATED)
def create_token(
    *, body: TokenCreate, principal: CurrentUser, context: ContextDep, client: ClientDep, now: NowDep
) -> TokenCreated:
    """A new API token for yourself (an admin: for anyone); its secret is in this answer only."""
    made = auth.create_token(
        context.services.engine, actor(principal, client), body.name, now=now,
        ttl_s=body.ttl_s or context.settings.token_ttl_s, for_user=body.username,
    )  # fmt: skip
    return TokenCreated(**TokenPublic.of(made.token).model_dump(), token=made.secret)


@router.get("/tokens", response_model=list[TokenPublic])
def list_tokens(*, principal: CurrentUser, engine: EngineDep, everyone: bool = False) -> list[TokenPublic]:
    """Your tokens; an admin may ask for ``everyone``'s."""
    username = None if everyone and principal.role.allows(Role.ADMIN) else principal.username
    return [TokenPublic.of(view) for view in auth.list_tokens(engine, username=username)]


@router.delete("/tokens/{token_id}", response_model=TokenPublic)
def revoke_token(
    *,
    token_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
    principal: CurrentUser,
    engine: EngineDep,
    client: ClientDep,
    now: NowDep,
) -> TokenPublic:
    """Revoke a token at once (yours; an admin: anyone's)."""
    return TokenPublic.of(auth.revoke_token(engine, actor(principal, client), token_id, now=now))
