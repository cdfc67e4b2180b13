"""Bring the hub's database to the newest schema, in code: no alembic.ini, works from an installed package.

Several hub workers may start together on one PostgreSQL: the whole upgrade runs in one transaction holding a
transaction-level advisory lock, so one worker migrates and the others then find nothing to do. On SQLite the
upgrade's ``BEGIN IMMEDIATE`` serialises them the same way.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import URL, Engine

from hub.storage.engine import create_engine

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
MIGRATION_LOCK_KEY = 0x67726964_70617373 & 0x7FFF_FFFF_FFFF_FFFF  # "gridpass", as a signed bigint
"""PostgreSQL advisory lock held while migrating."""
MIGRATION_WAIT = "10min"
"""How long a worker waits for another one's migration (and a migration for its table locks)."""


def alembic_config() -> Config:
    """The Alembic configuration of the hub's migrations."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def head_revision() -> str | None:
    """The newest revision the code knows."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def upgrade(engine_or_url: Engine | str | URL, revision: str = "head") -> None:
    """Apply every migration up to ``revision``; applying it again changes nothing."""
    engine = engine_or_url if isinstance(engine_or_url, Engine) else create_engine(engine_or_url)
    try:
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                # Wait for another worker's migration as long as it may take, not the engine's row-lock timeout.
                conn.execute(sa.text("SELECT set_config('lock_timeout', :wait, true)"), {"wait": MIGRATION_WAIT})
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            config = alembic_config()
            config.attributes["connection"] = conn
            command.upgrade(config, revision)
    finally:
        if engine is not engine_or_url:
            engine.dispose()


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None: never migrated)."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()
