"""Engines for the hub's database, and the transaction helpers every storage function goes through.

SQLite (the one-machine default): WAL, foreign keys on, ``synchronous=FULL`` (a committed batch survives a power
cut before it is acknowledged), a busy timeout, and every write transaction opened with ``BEGIN IMMEDIATE`` so
that writers queue on the busy timeout instead of failing when a deferred reader upgrades. Reads open a plain
deferred ``BEGIN`` and run beside the writer (WAL). ``sqlite://`` is one in-memory database on one connection shared
by the whole engine (for single-threaded tests).

PostgreSQL (several hub workers on one database): psycopg 3, a bounded pool, ``READ COMMITTED`` set explicitly
(the ingest's row locks rely on each statement seeing what committed before it; see ``ingest.py``).

Nothing here runs at import time: ``create_engine`` is called by the hub's composition root.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql as postgresql_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.pool import StaticPool

from hub.storage.errors import StorageError, StorageUnavailableError
from hub.storage.models import Base

SQLITE_BUSY_TIMEOUT_S = 30.0
"""How long a SQLite writer waits for another writer's transaction before giving up."""
PG_POOL_SIZE = 5
PG_MAX_OVERFLOW = 10
PG_POOL_TIMEOUT_S = 30.0
"""How long a caller waits for a pooled PostgreSQL connection."""
PG_CONNECT_TIMEOUT_S = 10
PG_LOCK_TIMEOUT_S = 30.0
"""How long a PostgreSQL statement waits for a row lock (another worker's transaction) before failing."""

READ_ONLY_OPTION = "gridpass_read_only"
"""Execution option marking a connection's transactions as reads (SQLite: deferred BEGIN, no write lock)."""

Target = Engine | Connection | Session
"""What storage functions accept: an engine (they open and commit their own transaction), or a connection or
session (they join its transaction when one is open, else open and commit their own)."""


def create_engine(
    url: str | URL,
    *,
    busy_timeout_s: float = SQLITE_BUSY_TIMEOUT_S,
    pool_size: int = PG_POOL_SIZE,
    max_overflow: int = PG_MAX_OVERFLOW,
    lock_timeout_s: float = PG_LOCK_TIMEOUT_S,
    echo: bool = False,
) -> Engine:
    """An engine for a ``sqlite:///path`` or ``postgresql://`` URL (``postgresql://`` means psycopg 3)."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(parsed, busy_timeout_s=busy_timeout_s, echo=echo)
    if backend == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        return _postgres_engine(
            parsed, pool_size=pool_size, max_overflow=max_overflow, lock_timeout_s=lock_timeout_s, echo=echo
        )
    raise StorageError(f"unsupported database {backend!r}: use sqlite:///path or postgresql://...")


def _sqlite_engine(url: URL, *, busy_timeout_s: float, echo: bool) -> Engine:
    connect_args: dict[str, Any] = {"timeout": busy_timeout_s, "check_same_thread": False}
    if url.database in (None, "", ":memory:"):
        # One in-memory database shared by every user of the engine (each connection would otherwise get its own).
        engine = sa.create_engine(url, echo=echo, connect_args=connect_args, poolclass=StaticPool)
    else:
        engine = sa.create_engine(url, echo=echo, connect_args=connect_args)
    busy_ms = int(busy_timeout_s * 1000)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:  # noqa: ANN401 - DB-API objects are untyped
        # The driver must not open transactions on its own: BEGIN is ours (see _on_begin).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        read_only = connection.get_execution_options().get(READ_ONLY_OPTION, False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    return engine


def _postgres_engine(url: URL, *, pool_size: int, max_overflow: int, lock_timeout_s: float, echo: bool) -> Engine:
    return sa.create_engine(
        url,
        echo=echo,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_timeout=PG_POOL_TIMEOUT_S,
        pool_pre_ping=True,
        isolation_level="READ COMMITTED",
        connect_args={
            "connect_timeout": PG_CONNECT_TIMEOUT_S,
            "application_name": "gridpass-hub",
            "options": f"-c lock_timeout={int(lock_timeout_s * 1000)}",
        },
    )


@contextmanager
def writing(target: Target) -> Iterator[Connection]:
    """One write transaction: commits at the end of the block, rolls back everything on any exception."""
    with _translated():
        if isinstance(target, Engine):
            with target.begin() as conn:
                yield conn
        else:
            with _joined(target) as conn:
                yield conn


@contextmanager
def reading(target: Target) -> Iterator[Connection]:
    """A read transaction (one consistent view); on SQLite it takes no write lock."""
    with _translated():
        if isinstance(target, Engine):
            with target.connect() as conn:
                conn.execution_options(**{READ_ONLY_OPTION: True})
                with conn.begin():
                    yield conn
        else:
            with _joined(target) as conn:
                yield conn


@contextmanager
def _joined(target: Connection | Session) -> Iterator[Connection]:
    """The caller's open transaction (a session always has one), else a transaction of our own."""
    if isinstance(target, Session):
        yield target.connection()
    elif target.in_transaction():
        yield target
    else:
        with target.begin():
            yield target


@contextmanager
def _translated() -> Iterator[None]:
    try:
        yield
    except OperationalError as exc:
        raise StorageUnavailableError(f"the hub database is unavailable or busy: {exc.orig}") from exc
    except DBAPIError as exc:
        raise StorageError(f"the hub database refused the operation: {exc.orig}") from exc


def dialect_insert(conn: Connection, table: type[Base]) -> sqlite_dialect.Insert | postgresql_dialect.Insert:
    """``INSERT`` with the dialect's ``ON CONFLICT`` clauses (both databases spell them the same way)."""
    if conn.dialect.name == "postgresql":
        return postgresql_dialect.insert(table)
    return sqlite_dialect.insert(table)
