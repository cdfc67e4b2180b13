"""Logging in, dashboard sessions and API tokens.

- ``login``: the password checked against its argon2id hash, wrong logins limited per (username, client)
  (``hub.accounts.ratelimit``), each wrong one logged and audited without the password.
- Sessions: a random cookie value; the hub keeps its SHA-256, the user, a CSRF token and an expiry.
- API tokens: ``gph_...``, shown once, kept as SHA-256, per user, named, with an expiry; revocable at once.
- ``resolve_session`` / ``resolve_token``: who a presented secret belongs to (None: nobody, expired, revoked, or the
  account is disabled), checked on every request.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from hub.accounts import ratelimit
from hub.accounts.passwords import DUMMY_HASH, MAX_PASSWORD_CHARS, verify_password
from hub.accounts.ratelimit import Attempts, LoginPolicy
from hub.accounts.roles import Role
from hub.accounts.secrets import (
    digest,
    display_prefix,
    new_api_token,
    new_csrf_token,
    new_session_token,
    plausible,
)
from hub.operations.audit import Actor, Outcome, audited, record, refuse
from hub.operations.errors import (
    AuthenticationError,
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
    RateLimitedError,
    translated,
)
from hub.operations.users import USERNAME, UserView
from hub.storage.engine import Target, dialect_insert, reading, writing
from hub.storage.models import CLIENT_LEN, TOKEN_NAME_LEN, USERNAME_LEN, ApiToken, LoginAttempt, User, UserSession

log = logging.getLogger(__name__)

SESSION_TTL_S = 8 * 3600.0
TOKEN_TTL_S = 90 * 86400.0
MAX_TOKEN_TTL_S = 400 * 86400.0
LAST_SEEN_STEP_S = 60.0
"""A session's or token's last use is written at most this often (reads stay reads)."""


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request acts as, and through what."""

    user_id: int
    username: str
    role: Role
    via: str
    """``session`` (the dashboard cookie) or ``token`` (an API bearer token)."""
    csrf_token: str | None = None
    """The session's CSRF token (sessions only)."""
    session_id: int | None = None
    token_id: int | None = None

    def actor(self, client: str | None) -> Actor:
        """This principal as the actor of an operation."""
        return Actor(self.username, self.role, client)


@dataclass(frozen=True, slots=True)
class NewSession:
    """A session just made: the cookie value is known only now."""

    cookie: str
    csrf_token: str
    expires_at: float
    user: UserView


@dataclass(frozen=True, slots=True)
class TokenView:
    """An API token as listed (never its secret)."""

    id: int
    username: str
    name: str
    prefix: str
    created_at: float
    expires_at: float
    revoked_at: float | None
    last_used_at: float | None


@dataclass(frozen=True, slots=True)
class NewToken:
    """A token just made: ``secret`` is shown once and never stored."""

    secret: str
    token: TokenView


def _client(client: str | None) -> str:
    return (client or "unknown")[:CLIENT_LEN]


def _attempts(conn: Connection, username: str, client: str) -> Attempts | None:
    row = conn.execute(
        sa.select(LoginAttempt.failures, LoginAttempt.window_start).where(
            LoginAttempt.username == username, LoginAttempt.client == client
        )
    ).one_or_none()
    return None if row is None else Attempts(int(row[0]), row[1])


def login(
    engine: Engine,
    username: str,
    password: str,
    *,
    client: str | None,
    now: float,
    policy: LoginPolicy | None = None,
    session_ttl_s: float = SESSION_TTL_S,
) -> NewSession:
    """Check a username and password and open a dashboard session; ``AuthenticationError`` says nothing more than
    "wrong username or password", ``RateLimitedError`` after too many."""
    policy = policy or LoginPolicy()
    who = _client(client)
    name = username[:USERNAME_LEN]
    actor = Actor(name if USERNAME.fullmatch(name) else "?", Role.VIEWER, who)
    with translated():
        with reading(engine) as conn:
            wait = ratelimit.blocked(_attempts(conn, name, who), policy, now)
            row = conn.execute(
                sa.select(User.id, User.password_hash, User.disabled).where(User.username == name)
            ).one_or_none()
        if wait is not None:
            log.warning("login of %r from %s refused: too many wrong logins", actor.name, who)
            refuse(engine, actor, "auth.login", f"user:{actor.name}", now=now, detail="rate_limited")
            raise RateLimitedError("too many wrong logins: try again later", wait)
        checked = verify_password(row[1] if row is not None else DUMMY_HASH, password[: MAX_PASSWORD_CHARS + 1])
        if row is None or not checked or row[2]:
            _count_failure(engine, name, who, policy, now)
            log.warning("wrong login for %r from %s", actor.name, who)
            refuse(engine, actor, "auth.login", f"user:{actor.name}", now=now, detail="wrong username or password")
            raise AuthenticationError("wrong username or password")
        return _open_session(engine, int(row[0]), name, client=who, now=now, ttl=session_ttl_s)


def _count_failure(engine: Engine, username: str, client: str, policy: LoginPolicy, now: float) -> None:
    with writing(engine) as conn:
        # Old windows are forgotten, so made-up usernames cannot grow the table without bound.
        conn.execute(sa.delete(LoginAttempt).where(LoginAttempt.window_start < now - policy.window_s))
        updated = ratelimit.after_failure(_attempts(conn, username, client), policy, now)
        conn.execute(
            dialect_insert(conn, LoginAttempt)
            .values(username=username, client=client, failures=updated.failures, window_start=updated.window_start)
            .on_conflict_do_update(
                index_elements=[LoginAttempt.username, LoginAttempt.client],
                set_={"failures": updated.failures, "window_start": updated.window_start},
            )
        )


def _open_session(engine: Engine, user_id: int, username: str, *, client: str, now: float, ttl: float) -> NewSession:
    cookie, csrf = new_session_token(), new_csrf_token()
    with writing(engine) as conn:
        conn.execute(sa.delete(LoginAttempt).where(LoginAttempt.username == username, LoginAttempt.client == client))
        conn.execute(sa.delete(UserSession).where(UserSession.expires_at <= now))
        conn.execute(
            sa.insert(UserSession).values(
                token_sha256=digest(cookie), user_id=user_id, csrf_token=csrf, client=client, created_at=now,
                expires_at=now + ttl, last_seen_at=now,
            )
        )  # fmt: skip
        user = _user(conn, user_id)
        record(conn, Actor(username, user.role, client), "auth.login", f"user:{username}", Outcome.OK, now=now)
    log.info("%s logged in from %s", username, client)
    return NewSession(cookie, csrf, now + ttl, user)


def _user(conn: Connection, user_id: int) -> UserView:
    row = conn.execute(
        sa.select(User.id, User.username, User.role, User.disabled, User.created_at, User.password_changed_at).where(
            User.id == user_id
        )
    ).one()
    return UserView(int(row[0]), row[1], Role(row[2]), bool(row[3]), row[4], row[5])


def resolve_session(target: Target, cookie: str, *, now: float) -> Principal | None:
    """The principal of a session cookie, or None."""
    if not plausible(cookie):
        return None
    with translated(), reading(target) as conn:
        row = conn.execute(
            sa.select(UserSession.id, UserSession.csrf_token, UserSession.expires_at, User.id, User.username, User.role)
            .join(User, User.id == UserSession.user_id)
            .where(UserSession.token_sha256 == digest(cookie), User.disabled.is_(False))
        ).one_or_none()
    if row is None or row[2] <= now:
        return None
    return Principal(int(row[3]), row[4], Role(row[5]), "session", csrf_token=row[1], session_id=int(row[0]))


def logout(engine: Engine, principal: Principal, *, client: str | None, now: float) -> None:
    """End the principal's session (a token principal: nothing to end)."""
    if principal.session_id is None:
        return
    with audited(engine, principal.actor(client), "auth.logout", f"user:{principal.username}", now=now) as scope:
        scope.conn.execute(sa.delete(UserSession).where(UserSession.id == principal.session_id))


def create_token(
    engine: Engine,
    actor: Actor,
    name: str,
    *,
    now: float,
    ttl_s: float = TOKEN_TTL_S,
    for_user: str | None = None,
) -> NewToken:
    """A new API token for the actor (or, for an admin, for ``for_user``)."""
    owner = for_user or actor.name
    with audited(engine, actor, "token.create", f"user:{owner}", now=now) as scope:
        if owner != actor.name and not actor.role.allows(Role.ADMIN):
            raise ForbiddenError("only an admin makes tokens for another user")
        if not 0 < len(name) <= TOKEN_NAME_LEN or not name.isprintable():
            raise InvalidInputError(f"a token name is 1-{TOKEN_NAME_LEN} printable characters")
        if not 0 < ttl_s <= MAX_TOKEN_TTL_S:
            raise InvalidInputError(f"a token lives 1 second to {int(MAX_TOKEN_TTL_S)} seconds")
        user_id = scope.conn.execute(
            sa.select(User.id).where(User.username == owner, User.disabled.is_(False))
        ).scalar_one_or_none()
        if user_id is None:
            raise NotFoundError(f"no enabled user {owner!r}")
        secret = new_api_token()
        token_id = scope.conn.execute(
            sa.insert(ApiToken)
            .values(
                token_sha256=digest(secret), user_id=user_id, name=name, prefix=display_prefix(secret),
                created_at=now, expires_at=now + ttl_s,
            )
            .returning(ApiToken.id)
        ).scalar_one()  # fmt: skip
        scope.detail = f"token {token_id} {name!r}"
        view = _tokens(scope.conn, token_id=int(token_id))[0]
    return NewToken(secret, view)


def resolve_token(engine: Engine, secret: str, *, now: float) -> Principal | None:
    """The principal of a bearer token, or None (unknown, expired, revoked, or the account disabled)."""
    if not plausible(secret):
        return None
    with translated():
        with reading(engine) as conn:
            row = conn.execute(
                sa.select(ApiToken.id, ApiToken.expires_at, ApiToken.last_used_at, User.id, User.username, User.role)
                .join(User, User.id == ApiToken.user_id)
                .where(ApiToken.token_sha256 == digest(secret), ApiToken.revoked_at.is_(None), User.disabled.is_(False))
            ).one_or_none()
        if row is None or row[1] <= now:
            return None
        if row[2] is None or now - row[2] >= LAST_SEEN_STEP_S:
            with writing(engine) as conn:
                conn.execute(sa.update(ApiToken).where(ApiToken.id == row[0]).values(last_used_at=now))
    return Principal(int(row[3]), row[4], Role(row[5]), "token", token_id=int(row[0]))


def revoke_token(engine: Engine, actor: Actor, token_id: int, *, now: float) -> TokenView:
    """Revoke a token at once; the owner or an admin may."""
    with audited(engine, actor, "token.revoke", f"token:{token_id}", now=now) as scope:
        found = _tokens(scope.conn, token_id=token_id)
        if not found:
            raise NotFoundError(f"no token {token_id}")
        if found[0].username != actor.name and not actor.role.allows(Role.ADMIN):
            raise NotFoundError(f"no token {token_id}")  # another's token: as if it did not exist
        scope.conn.execute(
            sa.update(ApiToken).where(ApiToken.id == token_id, ApiToken.revoked_at.is_(None)).values(revoked_at=now)
        )
        scope.detail = f"of {found[0].username}"
        return _tokens(scope.conn, token_id=token_id)[0]


def list_tokens(target: Target, *, username: str | None = None) -> list[TokenView]:
    """Tokens of one user (or everyone's), newest first."""
    with translated(), reading(target) as conn:
        return _tokens(conn, username=username)


def _tokens(conn: Connection, *, token_id: int | None = None, username: str | None = None) -> list[TokenView]:
    query = (
        sa.select(
            ApiToken.id, User.username, ApiToken.name, ApiToken.prefix, ApiToken.created_at, ApiToken.expires_at,
            ApiToken.revoked_at, ApiToken.last_used_at,
        )
        .join(User, User.id == ApiToken.user_id)
        .order_by(ApiToken.id.desc())
    )  # fmt: skip
    if token_id is not None:
        query = query.where(ApiToken.id == token_id)
    if username is not None:
        query = query.where(User.username == username)
    return [TokenView(int(r[0]), r[1], r[2], r[3], r[4], r[5], r[6], r[7]) for r in conn.execute(query)]
