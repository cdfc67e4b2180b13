"""Accounts and their audit rows: no defaults, only admins manage them, the last admin stays, refusals logged."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine

from hub.accounts.roles import Role
from hub.operations import audit, auth, users
from hub.operations.audit import Actor, Outcome
from hub.operations.errors import AuthenticationError, ConflictError, ForbiddenError, InvalidInputError
from tests.hub.api.support import CLI, PASSWORD, T0

OPERATOR = Actor("olga", Role.OPERATOR, "10.0.0.9")


def test_an_empty_hub_has_no_account_and_so_no_login(ops_engine: Engine) -> None:
    assert users.count_users(ops_engine) == 0
    for username in ("admin", "root", "gridpass"):
        with pytest.raises(AuthenticationError):
            auth.login(ops_engine, username, "admin", client="x", now=T0)


def test_create_then_log_in(ops_engine: Engine) -> None:
    made = users.create_user(ops_engine, CLI, "ann", Role.ADMIN, PASSWORD, now=T0)
    assert (made.username, made.role, made.disabled) == ("ann", Role.ADMIN, False)
    session = auth.login(ops_engine, "ann", PASSWORD, client="127.0.0.1", now=T0 + 1)
    principal = auth.resolve_session(ops_engine, session.cookie, now=T0 + 2)
    assert principal is not None
    assert (principal.username, principal.role, principal.via) == ("ann", Role.ADMIN, "session")
    assert auth.resolve_session(ops_engine, session.cookie + "x", now=T0 + 2) is None


def test_refusals_are_audited_and_change_nothing(ops_engine: Engine) -> None:
    users.create_user(ops_engine, CLI, "ann", Role.ADMIN, PASSWORD, now=T0)
    with pytest.raises(ConflictError):
        users.create_user(ops_engine, CLI, "ann", Role.VIEWER, PASSWORD, now=T0)
    with pytest.raises(ForbiddenError):
        users.create_user(ops_engine, OPERATOR, "eve", Role.ADMIN, PASSWORD, now=T0)
    with pytest.raises(InvalidInputError):
        users.create_user(ops_engine, CLI, "Bad Name", Role.ADMIN, PASSWORD, now=T0)
    with pytest.raises(InvalidInputError):
        users.create_user(ops_engine, CLI, "bob", Role.ADMIN, "short", now=T0)
    assert [u.username for u in users.list_users(ops_engine)] == ["ann"]
    rows = audit.entries(ops_engine, action="user.create")
    assert [(r.actor, r.target, r.outcome) for r in rows] == [
        ("cli:test", "user:bob", Outcome.REFUSED),
        ("cli:test", "user:Bad Name", Outcome.REFUSED),
        ("olga", "user:eve", Outcome.REFUSED),
        ("cli:test", "user:ann", Outcome.REFUSED),
        ("cli:test", "user:ann", Outcome.OK),
    ]
    assert rows[2].detail == "forbidden: only an admin manages operator accounts"
    assert rows[2].client == "10.0.0.9"
    assert all(PASSWORD not in (r.detail or "") for r in rows)


def test_the_last_enabled_admin_cannot_be_disabled_or_demoted(ops_engine: Engine) -> None:
    users.create_user(ops_engine, CLI, "ann", Role.ADMIN, PASSWORD, now=T0)
    with pytest.raises(ConflictError):
        users.update_user(ops_engine, CLI, "ann", now=T0, disabled=True)
    with pytest.raises(ConflictError):
        users.update_user(ops_engine, CLI, "ann", now=T0, role=Role.OPERATOR)
    users.create_user(ops_engine, CLI, "ben", Role.ADMIN, PASSWORD, now=T0)
    assert users.update_user(ops_engine, CLI, "ann", now=T0, role=Role.VIEWER).role is Role.VIEWER


def test_a_new_password_ends_sessions(ops_engine: Engine) -> None:
    users.create_user(ops_engine, CLI, "ann", Role.VIEWER, PASSWORD, now=T0)
    session = auth.login(ops_engine, "ann", PASSWORD, client="x", now=T0)
    users.update_user(ops_engine, CLI, "ann", now=T0 + 1, password="another long password")
    assert auth.resolve_session(ops_engine, session.cookie, now=T0 + 2) is None
    with pytest.raises(AuthenticationError):
        auth.login(ops_engine, "ann", PASSWORD, client="x", now=T0 + 3)
    assert auth.login(ops_engine, "ann", "another long password", client="x", now=T0 + 4).user.username == "ann"


def test_tokens_resolve_until_revoked_or_expired(ops_engine: Engine) -> None:
    users.create_user(ops_engine, CLI, "ann", Role.OPERATOR, PASSWORD, now=T0)
    made = auth.create_token(ops_engine, CLI, "script", now=T0, ttl_s=100, for_user="ann")
    principal = auth.resolve_token(ops_engine, made.secret, now=T0 + 1)
    assert principal is not None
    assert (principal.username, principal.role, principal.via) == ("ann", Role.OPERATOR, "token")
    assert auth.list_tokens(ops_engine, username="ann")[0].last_used_at == T0 + 1
    assert auth.resolve_token(ops_engine, made.secret, now=T0 + 100) is None
    fresh = auth.create_token(ops_engine, CLI, "script", now=T0, for_user="ann")
    auth.revoke_token(ops_engine, Actor("ann", Role.OPERATOR), fresh.token.id, now=T0 + 2)
    assert auth.resolve_token(ops_engine, fresh.secret, now=T0 + 3) is None
    with pytest.raises(InvalidInputError):
        auth.create_token(ops_engine, CLI, "", now=T0, for_user="ann")
