"""Fixtures of the integration tests: a site (broker with the hub's user, hub database) and child processes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.broker.dynsec import DynSecAdmin
from hub.storage.engine import create_engine
from hub.storage.migrate import upgrade
from tests.integration.rig import HUB_PASSWORD, HUB_USER, Children, Site
from tests.services.mosquitto import MosquittoBroker


def _site(broker: MosquittoBroker, url: str, directory: Path) -> Iterator[Site]:
    with DynSecAdmin(broker.host, broker.port, broker.admin_user, broker.admin_password) as admin:
        admin.ensure_all()
        admin.create_hub_user(HUB_USER, HUB_PASSWORD)
    engine = create_engine(url)
    upgrade(engine)
    try:
        yield Site(broker, engine, url, directory)
    finally:
        engine.dispose()


@pytest.fixture
def children() -> Iterator[Children]:
    """Child processes of the test, killed at teardown if still running."""
    started = Children()
    try:
        yield started
    finally:
        started.close()


@pytest.fixture
def site(broker: MosquittoBroker, tmp_path: Path) -> Iterator[Site]:
    """The broker (hub user and roles set up) and a migrated hub database on SQLite."""
    yield from _site(broker, f"sqlite:///{tmp_path / 'hub.db'}", tmp_path)


@pytest.fixture
def pg_site(broker: MosquittoBroker, fresh_postgres_url: str, tmp_path: Path) -> Iterator[Site]:
    """The broker and a migrated hub database on PostgreSQL (a database of this test's own)."""
    yield from _site(broker, fresh_postgres_url, tmp_path)
