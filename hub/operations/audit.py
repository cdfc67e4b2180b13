"""The audit log: every operator action, who, what, on what, when, and how it ended.

A change and its ``ok`` row commit in one transaction (``audited``); a refused change rolls back and its
``refused``/``failed`` row is written on its own, so the log also shows what was tried. Details are short texts the
operation chose (never a password or a token).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from hub.accounts.roles import Role
from hub.operations.errors import OperationError, translated
from hub.storage.engine import Target, reading, writing
from hub.storage.errors import StorageError
from hub.storage.models import ACTOR_LEN, AUDIT_DETAIL_LEN, CLIENT_LEN, TARGET_LEN, AuditEntry

log = logging.getLogger(__name__)

MAX_PAGE = 500


class Outcome(StrEnum):
    """How an action ended."""

    OK = "ok"
    REFUSED = "refused"
    """The hub refused it (bad input, not allowed, wrong state): nothing changed."""
    FAILED = "failed"
    """The hub did its part but a dependency (the broker) did not."""


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts: an operator through the API or dashboard, or ``cli:{os user}`` on the hub's host."""

    name: str
    role: Role
    client: str | None = None
    """The HTTP client's address, or ``local`` for the CLI."""


@dataclass(frozen=True, slots=True)
class AuditView:
    """One audit row."""

    id: int
    at: float
    actor: str
    actor_role: str | None
    action: str
    target: str | None
    outcome: Outcome
    detail: str | None
    client: str | None


def _clip(text: str | None, limit: int) -> str | None:
    return None if text is None else text[:limit]


def record(
    target: Target,
    actor: Actor,
    action: str,
    subject: str | None,
    outcome: Outcome,
    *,
    now: float,
    detail: str | None = None,
) -> None:
    """Write one audit row (joins the caller's transaction when given a connection)."""
    with writing(target) as conn:
        conn.execute(
            sa.insert(AuditEntry).values(
                at=now,
                actor=_clip(actor.name, ACTOR_LEN),
                actor_role=actor.role.value,
                action=action,
                target=_clip(subject, TARGET_LEN),
                outcome=outcome.value,
                detail=_clip(detail, AUDIT_DETAIL_LEN),
                client=_clip(actor.client, CLIENT_LEN),
            )
        )


class AuditScope:
    """The open transaction of an audited change; set ``detail`` to say more in the ``ok`` row."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.detail: str | None = None


@contextmanager
def audited(engine: Engine, actor: Actor, action: str, subject: str | None, *, now: float) -> Iterator[AuditScope]:
    """Run a change and its ``ok`` audit row in one transaction; on refusal, roll back and log ``refused``."""
    try:
        with translated(), writing(engine) as conn:
            scope = AuditScope(conn)
            yield scope
            record(conn, actor, action, subject, Outcome.OK, now=now, detail=scope.detail)
    except OperationError as exc:
        refuse(engine, actor, action, subject, now=now, detail=f"{exc.code}: {exc}")
        raise


def refuse(engine: Engine, actor: Actor, action: str, subject: str | None, *, now: float, detail: str) -> None:
    """Log a refused action (never fails the caller: a database that cannot take it is logged instead)."""
    try:
        record(engine, actor, action, subject, Outcome.REFUSED, now=now, detail=detail)
    except StorageError as exc:
        log.warning("could not write the audit row of a refused %s: %s", action, exc)


def fail(engine: Engine, actor: Actor, action: str, subject: str | None, *, now: float, detail: str) -> None:
    """Log an action whose dependency failed after the hub's part committed."""
    try:
        record(engine, actor, action, subject, Outcome.FAILED, now=now, detail=detail)
    except StorageError as exc:
        log.warning("could not write the audit row of a failed %s: %s", action, exc)


def entries(
    target: Target,
    *,
    limit: int = 100,
    before_id: int | None = None,
    subject: str | None = None,
    action: str | None = None,
) -> list[AuditView]:
    """Newest first; ``before_id`` pages back; ``subject`` and ``action`` filter exactly."""
    query = sa.select(
        AuditEntry.id, AuditEntry.at, AuditEntry.actor, AuditEntry.actor_role, AuditEntry.action, AuditEntry.target,
        AuditEntry.outcome, AuditEntry.detail, AuditEntry.client,
    ).order_by(AuditEntry.id.desc()).limit(max(1, min(limit, MAX_PAGE)))  # fmt: skip
    if before_id is not None:
        query = query.where(AuditEntry.id < before_id)
    if subject is not None:
        query = query.where(AuditEntry.target == subject)
    if action is not None:
        query = query.where(AuditEntry.action == action)
    with translated(), reading(target) as conn:
        rows = conn.execute(query).all()
    return [AuditView(r[0], r[1], r[2], r[3], r[4], r[5], Outcome(r[6]), r[7], r[8]) for r in rows]
