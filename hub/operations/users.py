"""Operator accounts: create (the first admin from the CLI), list, change role, disable, set a password.

There is no default account and no default password: an empty database has no user, and ``gridpass hub user
create --role admin`` makes the first one. Disabling a user ends their sessions and tokens at once (every request
checks the account).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from hub.accounts.passwords import PasswordPolicyError, hash_password
from hub.accounts.roles import Role
from hub.operations.audit import Actor, audited
from hub.operations.errors import ConflictError, ForbiddenError, InvalidInputError, NotFoundError, translated
from hub.storage.engine import Target, reading
from hub.storage.models import ApiToken, User, UserSession

USERNAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
"""Lower-case letters, digits, ``.``, ``_`` and ``-``; 1 to 64 characters."""


@dataclass(frozen=True, slots=True)
class UserView:
    """An operator account, without its password hash."""

    id: int
    username: str
    role: Role
    disabled: bool
    created_at: float
    password_changed_at: float


_COLUMNS = (User.id, User.username, User.role, User.disabled, User.created_at, User.password_changed_at)


def valid_username(username: str) -> str:
    """The username, if it is well-formed."""
    if not USERNAME.fullmatch(username):
        raise InvalidInputError("a username is 1-64 of a-z, 0-9, '.', '_' and '-', starting with a letter or digit")
    return username


def _hash(password: str) -> str:
    try:
        return hash_password(password)
    except PasswordPolicyError as exc:
        raise InvalidInputError(str(exc)) from exc


def _view(row: sa.Row[int, str, str, bool, float, float]) -> UserView:
    return UserView(int(row[0]), row[1], Role(row[2]), bool(row[3]), row[4], row[5])


def _select(conn: Connection, username: str) -> UserView | None:
    row = conn.execute(sa.select(*_COLUMNS).where(User.username == username)).one_or_none()
    return None if row is None else _view(row)


def create_user(engine: Engine, actor: Actor, username: str, role: Role, password: str, *, now: float) -> UserView:
    """A new account; only an admin may make one."""
    with audited(engine, actor, "user.create", f"user:{username}", now=now) as scope:
        _require_admin(actor)
        valid_username(username)
        password_hash = _hash(password)
        if _select(scope.conn, username) is not None:
            raise ConflictError(f"user {username!r} exists")
        scope.conn.execute(
            sa.insert(User).values(
                username=username, role=role.value, password_hash=password_hash, created_at=now,
                password_changed_at=now,
            )
        )  # fmt: skip
        scope.detail = f"role {role.value}"
        created = _select(scope.conn, username)
    assert created is not None  # noqa: S101 - inserted in the transaction above
    return created


def _require_admin(actor: Actor) -> None:
    if not actor.role.allows(Role.ADMIN):
        raise ForbiddenError("only an admin manages operator accounts")


def update_user(
    engine: Engine,
    actor: Actor,
    username: str,
    *,
    now: float,
    role: Role | None = None,
    disabled: bool | None = None,
    password: str | None = None,
) -> UserView:
    """Change a role, disable or enable, or set a new password (which ends the user's sessions)."""
    with audited(engine, actor, "user.update", f"user:{username}", now=now) as scope:
        _require_admin(actor)
        conn = scope.conn
        held = _select(conn, username)
        if held is None:
            raise NotFoundError(f"no user {username!r}")
        values: dict[str, object] = {}
        changes = []
        if role is not None and role is not held.role:
            values["role"] = role.value
            changes.append(f"role {held.role.value}->{role.value}")
        if disabled is not None and disabled != held.disabled:
            values["disabled"] = disabled
            changes.append("disabled" if disabled else "enabled")
        if password is not None:
            values["password_hash"] = _hash(password)
            values["password_changed_at"] = now
            changes.append("password set")
        if (values.get("role") not in (None, Role.ADMIN.value) or disabled) and held.role is Role.ADMIN:
            _keep_an_admin(conn, held.id)
        if values:
            conn.execute(sa.update(User).where(User.id == held.id).values(**values))
        if "password_hash" in values or disabled:
            conn.execute(sa.delete(UserSession).where(UserSession.user_id == held.id))
        if disabled:
            conn.execute(
                sa.update(ApiToken)
                .where(ApiToken.user_id == held.id, ApiToken.revoked_at.is_(None))
                .values(revoked_at=now)
            )
        scope.detail = ", ".join(changes) or "no change"
        updated = _select(conn, username)
    assert updated is not None  # noqa: S101 - selected in the transaction above
    return updated


def _keep_an_admin(conn: Connection, leaving: int) -> None:
    others = conn.execute(
        sa.select(sa.func.count())
        .select_from(User)
        .where(User.role == Role.ADMIN.value, User.disabled.is_(False), User.id != leaving)
    ).scalar_one()
    if not others:
        raise ConflictError("this is the last enabled admin: make another admin first")


def list_users(target: Target) -> list[UserView]:
    """Every account, by username."""
    with translated(), reading(target) as conn:
        return [_view(row) for row in conn.execute(sa.select(*_COLUMNS).order_by(User.username))]


def get_user(target: Target, username: str) -> UserView | None:
    """One account by username."""
    with translated(), reading(target) as conn:
        return _select(conn, username)


def count_users(target: Target) -> int:
    """How many accounts exist."""
    with translated(), reading(target) as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(User)).scalar_one())
