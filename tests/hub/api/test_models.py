"""Request models under arbitrary JSON: they validate or refuse with a ValidationError, never anything else; and
through the app, arbitrary bodies get an answer below 500."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from hub.accounts.roles import Role
from hub.api import models
from hub.storage.engine import create_engine
from hub.storage.migrate import upgrade
from tests.hub.api.conftest import build
from tests.hub.api.support import bearer, device_key_pem

REQUESTS: list[type[BaseModel]] = [
    models.LoginCreate, models.TokenCreate, models.UserCreate, models.UserUpdate, models.DeviceCreate,
    models.DeviceUpdate, models.CommandCreate,
]  # fmt: skip
FIELDS = ["id", "public_key_pem", "profile", "site", "grid_cell", "broker_password", "approved", "command", "args",
          "ttl_s", "username", "password", "role", "disabled", "name"]  # fmt: skip

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=80),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
bodies = st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=10), json_values, max_size=8)


@pytest.mark.parametrize("model", REQUESTS, ids=lambda m: m.__name__)
@given(body=bodies)
def test_a_request_model_validates_or_refuses(model: type[BaseModel], body: dict[str, Any]) -> None:
    try:
        parsed = model.model_validate(body)
    except ValidationError:
        return
    assert set(parsed.model_dump(exclude_unset=True)) <= set(body)


@given(device=st.from_regex(r"[a-z0-9-]{1,64}", fullmatch=True), site=st.text(min_size=1, max_size=64))
def test_a_valid_device_create_round_trips(device: str, site: str) -> None:
    body = {"id": device, "public_key_pem": "x", "profile": "camera", "site": site}
    assert models.DeviceCreate.model_validate(body).model_dump(exclude_unset=True) == body


def test_arbitrary_bodies_never_break_the_app(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'hub.db'}")
    upgrade(engine)
    hub = build(engine)
    pem = device_key_pem()
    operator = bearer(hub.tokens[Role.OPERATOR])
    assert hub.client.post("/api/v1/devices", json={"id": "d-1", "public_key_pem": pem, "profile": "scanner"},
                           headers=operator).status_code == 201  # fmt: skip
    paths = ["/api/v1/devices", "/api/v1/devices/d-1/commands", "/api/v1/auth/tokens", "/api/v1/auth/login"]

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(path=st.sampled_from(paths), body=bodies)
    def post(path: str, body: dict[str, Any]) -> None:
        if path.endswith("/login") and isinstance(body.get("username"), str):
            body["username"] = "z-" + body["username"][:60]  # do not lock out the accounts under test
        raw = json.dumps(body)  # Infinity and NaN included: Python's JSON parser accepts them
        response = hub.client.post(path, content=raw, headers={**operator, "content-type": "application/json"})
        assert response.status_code < 500, response.text
        if response.status_code >= 400:
            assert response.headers["content-type"] == "application/problem+json"

    try:
        with TestClient(hub.app) as client:
            hub.client = client
            post()
    finally:
        engine.dispose()
