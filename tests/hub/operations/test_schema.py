"""Migration 0003 makes the operators' tables as the models say, and goes down and up again on both databases."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from hub.storage.engine import create_engine
from hub.storage.migrate import alembic_config, upgrade
from hub.storage.models import Base

TABLES = {"users", "user_sessions", "api_tokens", "login_attempts", "audit_log", "device_commands"}


def test_0003_goes_down_and_up_and_matches_the_models(hub_db_url: str) -> None:
    engine = create_engine(hub_db_url)
    try:
        upgrade(engine)
        assert set(sa.inspect(engine).get_table_names()) >= TABLES
        with engine.begin() as conn:
            config = alembic_config()
            config.attributes["connection"] = conn
            command.downgrade(config, "0002")
        inspector = sa.inspect(engine)
        assert not TABLES & set(inspector.get_table_names())
        assert "storage" not in {c["name"] for c in inspector.get_columns("presence")}
        upgrade(engine)
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()
