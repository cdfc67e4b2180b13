"""Fixtures of the relay tests: a migrated hub database (SQLite and PostgreSQL) and a district on disk."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from hub.storage.engine import create_engine
from hub.storage.migrate import upgrade
from tests.district.server.support import District, make_district


@pytest.fixture
def hub_engine(hub_db_url: str) -> Iterator[Engine]:
    """A migrated, empty hub database (the test runs on SQLite and on PostgreSQL)."""
    engine = create_engine(hub_db_url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def sqlite_hub(tmp_path: Path) -> Iterator[Engine]:
    """A migrated, empty hub database on SQLite only."""
    engine = create_engine(f"sqlite:///{tmp_path / 'hub.db'}")
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def district(tmp_path: Path) -> District:
    """A district's key, hub tokens and (empty) lists on disk."""
    return make_district(tmp_path / "district")
