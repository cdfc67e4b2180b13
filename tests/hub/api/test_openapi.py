"""The committed OpenAPI document is the one the code generates (``python -m hub.api.openapi`` rewrites it)."""

from __future__ import annotations

import json

from hub.accounts.roles import Role
from hub.api.openapi import DOC_PATH, generate, render
from tests.hub.api.conftest import Hub
from tests.hub.api.support import bearer


def test_committed_openapi_is_current() -> None:
    assert DOC_PATH.read_text(encoding="utf-8") == render(), "docs/openapi.json is stale: run python -m hub.api.openapi"


def test_every_api_route_documents_its_problems_and_models() -> None:
    document = generate()
    assert document["info"]["version"] == "1.0.0"
    schemas = document["components"]["schemas"]
    for shape in ("DeviceCreate", "DeviceUpdate", "DevicePublic", "UserCreate", "UserUpdate", "UserPublic",
                  "CommandCreate", "CommandPublic", "TokenCreate", "TokenPublic", "Problem"):  # fmt: skip
        assert shape in schemas
    for path, operations in document["paths"].items():
        if not path.startswith("/api/v1/") or path == "/api/v1/auth/login":
            continue
        for method, operation in operations.items():
            assert "401" in operation["responses"], (method, path)
            assert "application/problem+json" in operation["responses"]["401"]["content"]


def test_the_served_document_needs_a_login_and_matches(hub: Hub) -> None:
    assert hub.client.get("/api/v1/openapi.json").status_code == 401
    served = hub.client.get("/api/v1/openapi.json", headers=bearer(hub.tokens[Role.VIEWER])).json()
    assert served == json.loads(render())
