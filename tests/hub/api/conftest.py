"""Fixtures of the hub API tests: a migrated database (SQLite and PostgreSQL), the app over it, one token per role."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from hub.accounts.roles import Role
from hub.api.services import HubServices
from hub.app import create_app
from hub.config import WebSection
from hub.storage.engine import create_engine
from hub.storage.migrate import upgrade
from tests.hub.api.support import Clock, KeptPublisher, make_user

WEB = WebSection(cookie_secure=False, login_max_failures=3, login_window_s=300)


@dataclass
class Hub:
    """The app under test and what it was built from."""

    app: FastAPI
    client: TestClient
    engine: Engine
    clock: Clock
    publisher: KeptPublisher
    tokens: dict[Role, str]


@pytest.fixture
def hub_engine(hub_db_url: str) -> Iterator[Engine]:
    """A migrated, empty hub database (the test runs on SQLite and on PostgreSQL)."""
    engine = create_engine(hub_db_url)
    upgrade(engine)
    yield engine
    engine.dispose()


def build(engine: Engine) -> Hub:
    """The app over ``engine`` with an admin, an operator and a viewer."""
    clock, publisher = Clock(), KeptPublisher()
    tokens = {role: make_user(engine, role.value, role) for role in Role}
    app = create_app(WEB, HubServices(engine, clock, publisher=publisher))
    return Hub(app, TestClient(app), engine, clock, publisher, tokens)


@pytest.fixture
def hub(hub_engine: Engine) -> Iterator[Hub]:
    """The app on each database, with one account (and token) per role, named after the role."""
    built = build(hub_engine)
    with built.client:
        yield built
