"""Fixtures of the hub storage tests: a migrated engine on each database (helpers are in ``support.py``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from hub.storage.engine import create_engine
from hub.storage.migrate import upgrade


@pytest.fixture
def hub_engine(hub_db_url: str) -> Iterator[Engine]:
    """A migrated, empty hub database (the test runs on SQLite and on PostgreSQL)."""
    engine = create_engine(hub_db_url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def pg_engine(fresh_postgres_url: str) -> Iterator[Engine]:
    """A migrated, empty hub database on PostgreSQL only."""
    engine = create_engine(fresh_postgres_url, pool_size=8)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    """A migrated, empty hub database on SQLite only (for many-example property tests)."""
    engine = create_engine(f"sqlite:///{tmp_path / 'hub.db'}")
    upgrade(engine)
    yield engine
    engine.dispose()
