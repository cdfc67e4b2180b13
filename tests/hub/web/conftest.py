"""Fixtures of the dashboard tests: a migrated hub with accounts, the app with the dashboard, logged-in clients."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from hub.accounts.roles import Role
from hub.api.services import HubServices
from hub.app import create_app
from hub.config import WebSection
from hub.operations.audit import Actor
from hub.operations.users import create_user
from hub.storage.engine import create_engine
from hub.storage.migrate import upgrade
from hub.web.live import LiveSettings
from hub.web.router import dashboard_router
from tests.hub.web.fleet import NOW

PASSWORD = "correct horse battery"
BOOTSTRAP = Actor("cli:test", Role.ADMIN, "local")
TEST_LIVE = LiveSettings(interval_s=0.01, max_s=0.05, retry_ms=100)


@dataclass
class Clock:
    """A clock the test moves."""

    now: float = NOW

    def __call__(self) -> float:
        return self.now


@dataclass
class Publisher:
    """Records what the hub would publish."""

    sent: list[tuple[str, bytes, bool]] = field(default_factory=list)

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> bool:
        self.sent.append((topic, payload, retain))
        return True


@dataclass
class Hub:
    """A hub database with the three accounts, and what the app is built from."""

    engine: Engine
    clock: Clock
    publisher: Publisher
    settings: WebSection

    def app(self, services: HubServices | None = None, live: LiveSettings = TEST_LIVE) -> FastAPI:
        """The web app with the dashboard (short live updates unless ``live`` says otherwise)."""
        return create_app(
            self.settings,
            services or HubServices(self.engine, self.clock, publisher=self.publisher),
            extra_routers=[dashboard_router(live)],
            dashboard=False,
        )


def make_hub(url: str) -> Hub:
    """A migrated hub at ``url`` with users viewer ``vic``, operator ``olga``, admin ``ada``."""
    engine = create_engine(url)
    upgrade(engine)
    for name, role in (("vic", Role.VIEWER), ("olga", Role.OPERATOR), ("ada", Role.ADMIN)):
        create_user(engine, BOOTSTRAP, name, role, PASSWORD, now=NOW - 86400)
    return Hub(engine, Clock(), Publisher(), WebSection(cookie_secure=False))


@pytest.fixture(scope="session")
def hub_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite hub with the three accounts, made once (argon2 hashing is slow on purpose)."""
    path = tmp_path_factory.mktemp("hub-template") / "hub.db"
    made = make_hub(f"sqlite:///{path}")
    made.engine.dispose()  # the last connection to close checkpoints the WAL into the file
    assert not path.with_name("hub.db-wal").exists()
    return path


@pytest.fixture
def hub(tmp_path: Path, hub_template: Path) -> Iterator[Hub]:
    """A hub on SQLite in ``tmp_path`` (a copy of the template)."""
    path = tmp_path / "hub.db"
    shutil.copyfile(hub_template, path)
    made = Hub(create_engine(f"sqlite:///{path}"), Clock(), Publisher(), WebSection(cookie_secure=False))
    yield made
    made.engine.dispose()


CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def login(client: TestClient, username: str) -> str:
    """Log ``client`` in; the CSRF token of its session."""
    response = client.post("/web/login", data={"username": username, "password": PASSWORD, "next": "/web/"},
                           follow_redirects=False)  # fmt: skip
    assert response.status_code == 303, response.text
    page = client.get("/web/")
    match = CSRF.search(page.text)
    assert match is not None
    return match.group(1)


@pytest.fixture
def client(hub: Hub) -> Iterator[TestClient]:
    """A browser-like client of the app (not logged in)."""
    with TestClient(hub.app(), base_url="http://127.0.0.1") as test_client:
        yield test_client
