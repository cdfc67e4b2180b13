"""Fixtures of the operations tests: a migrated database on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Engine

from hub.storage.engine import create_engine
from hub.storage.migrate import upgrade


@pytest.fixture
def ops_engine(hub_db_url: str) -> Iterator[Engine]:
    """A migrated, empty hub database (the test runs on SQLite and on PostgreSQL)."""
    engine = create_engine(hub_db_url)
    upgrade(engine)
    yield engine
    engine.dispose()
