"""Every error is problem JSON (RFC 9457); bodies are bounded; validation errors never echo what was sent."""

from __future__ import annotations

from collections.abc import Iterator

from hub.accounts.roles import Role
from tests.hub.api.conftest import WEB, Hub
from tests.hub.api.support import bearer

PROBLEM = "application/problem+json"


def _is_problem(response: object, status: int) -> dict[str, object]:
    assert getattr(response, "status_code") == status  # noqa: B009
    assert getattr(response, "headers")["content-type"] == PROBLEM  # noqa: B009
    body: dict[str, object] = getattr(response, "json")()  # noqa: B009
    assert body["status"] == status
    assert str(body["type"]).startswith("https://")
    assert isinstance(body["title"], str)
    return body


def test_unknown_route_and_wrong_method(hub: Hub) -> None:
    _is_problem(hub.client.get("/api/v1/nothing-here", headers=bearer(hub.tokens[Role.ADMIN])), 404)
    _is_problem(hub.client.put("/healthz"), 405)


def test_not_found_names_what(hub: Hub) -> None:
    body = _is_problem(hub.client.get("/api/v1/devices/nobody", headers=bearer(hub.tokens[Role.VIEWER])), 404)
    assert body["code"] == "not_found"
    assert body["instance"] == "/api/v1/devices/nobody"


def test_validation_errors_list_fields_without_their_values(hub: Hub) -> None:
    secret = "hunter2-but-longer-and-wrong" * 20
    response = hub.client.post("/api/v1/users", json={"username": "Bad Name", "role": "root", "password": secret},
                               headers=bearer(hub.tokens[Role.ADMIN]))  # fmt: skip
    body = _is_problem(response, 422)
    errors = body["errors"]
    assert isinstance(errors, list)
    assert {tuple(e["loc"]) for e in errors} >= {("body", "username"), ("body", "role"), ("body", "password")}
    assert secret not in response.text


def test_malformed_json_and_unknown_fields(hub: Hub) -> None:
    headers = {**bearer(hub.tokens[Role.OPERATOR]), "content-type": "application/json"}
    _is_problem(hub.client.post("/api/v1/devices", content=b"{not json", headers=headers), 422)
    body = {"id": "a", "public_key_pem": "x", "profile": "scanner", "colour": "red"}
    _is_problem(hub.client.post("/api/v1/devices", json=body, headers=headers), 422)


def test_a_declared_large_body_is_refused_before_it_is_read(hub: Hub) -> None:
    big = b"{" + b" " * WEB.max_body_bytes + b"}"
    response = hub.client.post("/api/v1/auth/login", content=big, headers={"content-type": "application/json"})
    assert _is_problem(response, 413)["detail"] == f"the body is larger than {WEB.max_body_bytes} bytes"


def test_a_streamed_large_body_is_refused_as_it_arrives(hub: Hub) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"username": "'
        for _ in range(WEB.max_body_bytes // 1024 + 2):
            yield b"a" * 1024
        yield b'"}'

    response = hub.client.post("/api/v1/auth/login", content=chunks(), headers={"content-type": "application/json"})
    _is_problem(response, 413)


def test_a_bad_content_length_is_refused(hub: Hub) -> None:
    response = hub.client.post("/api/v1/auth/login", content=b"{}", headers={"content-length": "12x"})
    _is_problem(response, 400)


def test_a_dashboard_page_without_login_redirects_to_the_login_page(hub: Hub) -> None:
    response = hub.client.get("/metrics", headers={"accept": "text/html"}, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/web/login?next=/metrics"
