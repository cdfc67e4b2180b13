"""Migrations apply from empty, again without effect, match the models, and ship with the package; engines are
configured as the storage layer relies on."""

from __future__ import annotations

import threading
import tomllib
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from hub.storage.engine import create_engine, reading, writing
from hub.storage.errors import StorageError
from hub.storage.migrate import MIGRATIONS_DIR, current_revision, head_revision, upgrade
from hub.storage.models import Base

TABLES = {*Base.metadata.tables, "alembic_version"}
"""Every table the models declare, and Alembic's own: the migrations make exactly these."""
REPO = Path(__file__).resolve().parents[3]


def test_upgrade_from_empty_then_again_changes_nothing(hub_db_url: str) -> None:
    engine = create_engine(hub_db_url)
    try:
        assert current_revision(engine) is None
        upgrade(hub_db_url)  # from a URL: its own engine, disposed afterwards
        head = head_revision()
        assert head is not None
        assert current_revision(engine) == head
        assert set(sa.inspect(engine).get_table_names()) == TABLES
        upgrade(engine)
        assert current_revision(engine) == head
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM alembic_version")).scalar_one() == 1
    finally:
        engine.dispose()


def test_the_migrations_make_exactly_the_models_schema(hub_db_url: str) -> None:
    engine = create_engine(hub_db_url)
    try:
        upgrade(engine)
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()


def test_workers_starting_together_migrate_once(fresh_postgres_url: str) -> None:
    engine = create_engine(fresh_postgres_url)
    errors: list[BaseException] = []
    start = threading.Barrier(3, timeout=30)

    def worker() -> None:
        try:
            start.wait()
            upgrade(engine)
        except BaseException as exc:  # noqa: BLE001 - reported by the test thread
            errors.append(exc)

    threads = [threading.Thread(target=worker, name=f"migrate-{i}") for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    try:
        assert not errors
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()


def test_the_migrations_ship_with_the_package() -> None:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["hub"]
    hub_dir = REPO / "hub"
    shipped = {path for pattern in patterns for path in hub_dir.glob(pattern)}
    needed = {path for path in MIGRATIONS_DIR.rglob("*") if path.suffix in {".py", ".mako"}}
    assert needed
    assert needed <= shipped
    assert MIGRATIONS_DIR.is_relative_to(hub_dir)


def test_sqlite_engine_is_durable_and_waits_for_writers(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'hub.db'}", busy_timeout_s=5)
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar_one() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar_one() == 1
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar_one() == 2  # FULL
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar_one() == 5000
    finally:
        engine.dispose()


def test_sqlite_writers_take_the_write_lock_at_begin_and_readers_do_not(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'hub.db'}", busy_timeout_s=0.05)
    try:
        upgrade(engine)
        with writing(engine):
            # A second writer cannot begin while the first holds the lock; a reader can.
            with pytest.raises(StorageError, match="unavailable or busy"), writing(engine):
                pass
            with reading(engine) as conn:
                assert conn.execute(sa.text("SELECT count(*) FROM devices")).scalar_one() == 0
    finally:
        engine.dispose()


def test_postgres_urls_mean_psycopg_3_and_read_committed(postgres_url: str) -> None:
    plain = postgres_url.replace("postgresql+psycopg://", "postgresql://")
    engine = create_engine(plain)
    try:
        assert engine.dialect.driver == "psycopg"
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SHOW transaction_isolation").scalar_one() == "read committed"
            assert conn.exec_driver_sql("SHOW lock_timeout").scalar_one() == "30s"
    finally:
        engine.dispose()


def test_other_databases_are_refused() -> None:
    with pytest.raises(StorageError, match="unsupported database"):
        create_engine("mysql://localhost/hub")


def test_an_in_memory_sqlite_database_is_one_database_for_the_whole_engine() -> None:
    engine = create_engine("sqlite://")
    try:
        upgrade(engine)  # on one connection of the engine
        assert "events" in sa.inspect(engine).get_table_names()  # seen from the next one
        with reading(engine) as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM events")).scalar_one() == 0
    finally:
        engine.dispose()
