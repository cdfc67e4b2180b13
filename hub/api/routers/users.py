"""``/api/v1/users``: operator accounts (admins only)."""

from __future__ import annotations

from fastapi import APIRouter, status

from hub.api.deps import ClientDep, EngineDep, NowDep, RequireAdmin, actor
from hub.api.models import UserCreate, UserPublic, UserUpdate
from hub.api.problems import PROBLEM_RESPONSES
from hub.operations import users
from hub.operations.errors import NotFoundError

router = APIRouter(prefix="/api/v1/users", tags=["users"], responses=PROBLEM_RESPONSES)


@router.get("", response_model=list[UserPublic])
def list_users(*, _admin: RequireAdmin, engine: EngineDep) -> list[UserPublic]:
    """Every account."""
    return [UserPublic.of(view) for view in users.list_users(engine)]


@router.post("", response_model=UserPublic, status_code=status.HTTP_201_CREATED)
def create_user(
    *, body: UserCreate, admin: RequireAdmin, engine: EngineDep, client: ClientDep, now: NowDep
) -> UserPublic:
    """A new account."""
    return UserPublic.of(
        users.create_user(engine, actor(admin, client), body.username, body.role, body.password, now=now)
    )


@router.get("/{username}", response_model=UserPublic)
def get_user(*, username: str, _admin: RequireAdmin, engine: EngineDep) -> UserPublic:
    """One account."""
    view = users.get_user(engine, username[:64])
    if view is None:
        raise NotFoundError(f"no user {username[:64]!r}")
    return UserPublic.of(view)


@router.patch("/{username}", response_model=UserPublic)
def update_user(
    *, username: str, body: UserUpdate, admin: RequireAdmin, engine: EngineDep, client: ClientDep, now: NowDep
) -> UserPublic:
    """Change a role, disable or enable, or set a password (ends the user's sessions; disabling also revokes the
    user's tokens)."""
    return UserPublic.of(
        users.update_user(
            engine, actor(admin, client), username[:64], now=now, role=body.role, disabled=body.disabled,
            password=body.password,
        )
    )  # fmt: skip
