"""Who may do what: no access without login, roles, revoked and expired tokens, sessions and CSRF, wrong logins."""

from __future__ import annotations

import logging
import re

import pytest
from fastapi.routing import APIRoute, iter_route_contexts

from hub.accounts.roles import Role
from hub.api.deps import CSRF_HEADER, SESSION_COOKIE
from hub.operations import commands
from hub.storage import devices
from tests.hub.api.conftest import WEB, Hub
from tests.hub.api.support import PASSWORD, bearer, device_key_pem

PUBLIC = {("GET", "/healthz"), ("POST", "/api/v1/auth/login")}
PUBLIC_PAGES = {("GET", "/web/login"), ("POST", "/web/login"), ("GET", "/web"), ("GET", "/web/static/app.css")}
"""The dashboard's login page, its redirect to itself and its static files: no data in any of them."""
PATH_VALUES = {
    "device_id": "scanner-01", "token_id": "1", "username": "viewer", "command_id": "0" * 32, "sha256": "0" * 64,
    "name": "app.css",
}  # fmt: skip


def _routes(hub: Hub) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for context in iter_route_contexts(hub.app.routes):
        if isinstance(context.original_route, APIRoute) and context.path and context.methods:
            path = re.sub(r"\{(\w+)\}", lambda m: PATH_VALUES[m.group(1)], context.path)
            found.extend((method, path) for method in sorted(context.methods))
    return found


def _preauthorise(hub: Hub, token: str, device: str = "scanner-01") -> int:
    body = {"id": device, "public_key_pem": device_key_pem(), "profile": "scanner"}
    status: int = hub.client.post("/api/v1/devices", json=body, headers=bearer(token)).status_code
    return status


def test_every_route_but_health_and_login_needs_a_login(hub: Hub) -> None:
    routes = _routes(hub)
    assert len(routes) > 15
    assert set(routes) >= PUBLIC
    for method, path in routes:
        if (method, path) in PUBLIC | PUBLIC_PAGES:
            continue
        if path.startswith("/web"):  # a page: to the login page (the dashboard's own tests look closer)
            response = hub.client.request(method, path, follow_redirects=False, data={})
            assert response.status_code in {303, 401, 403, 422}, (method, path, response.status_code)  # never a page
            assert response.status_code != 303 or response.headers["location"].startswith("/web/login"), path
            continue
        for headers in ({}, bearer("gph_" + "x" * 43), {"Authorization": "Basic dXNlcjpwYXNz"}):
            response = hub.client.request(method, path, headers=headers, json={})
            assert response.status_code == 401, (method, path, headers, response.text)
            assert response.headers["content-type"] == "application/problem+json"
            assert response.json()["status"] == 401
            assert response.headers["www-authenticate"] == "Bearer"


def test_health_needs_no_login(hub: Hub) -> None:
    assert hub.client.get("/healthz").json() == {"status": "ok", "database": "ok", "broker": "connected"}


def test_a_viewer_reads_but_cannot_command_enrol_or_decommission(hub: Hub) -> None:
    viewer, operator = bearer(hub.tokens[Role.VIEWER]), hub.tokens[Role.OPERATOR]
    assert _preauthorise(hub, hub.tokens[Role.VIEWER]) == 403
    assert _preauthorise(hub, operator) == 201
    assert hub.client.get("/api/v1/devices", headers=viewer).status_code == 200
    refused = [
        hub.client.post("/api/v1/devices/scanner-01/commands", json={"command": "sync_now"}, headers=viewer),
        hub.client.post("/api/v1/devices/scanner-01/decommission", headers=viewer),
        hub.client.post("/api/v1/devices/scanner-01/approve", headers=viewer),
        hub.client.patch("/api/v1/devices/scanner-01", json={"site": "x"}, headers=viewer),
        hub.client.get("/api/v1/audit", headers=viewer),
        hub.client.get("/api/v1/users", headers=viewer),
    ]
    assert [r.status_code for r in refused] == [403] * len(refused)
    assert all(r.json()["code"] == "forbidden" for r in refused)
    device = devices.get_device(hub.engine, "scanner-01")
    assert device is not None
    assert device.status is devices.DeviceStatus.ENROLLED
    assert device.site is None
    assert commands.list_commands(hub.engine) == []
    assert hub.publisher.sent == []


def test_an_operator_cannot_manage_accounts(hub: Hub) -> None:
    operator = bearer(hub.tokens[Role.OPERATOR])
    body = {"username": "mallory", "role": "admin", "password": PASSWORD}
    assert hub.client.post("/api/v1/users", json=body, headers=operator).status_code == 403
    assert hub.client.patch("/api/v1/users/operator", json={"role": "admin"}, headers=operator).status_code == 403
    admin = bearer(hub.tokens[Role.ADMIN])
    assert hub.client.post("/api/v1/users", json=body, headers=admin).status_code == 201
    assert hub.client.get("/api/v1/users/mallory", headers=admin).json()["role"] == "admin"


def test_a_revoked_token_is_refused_at_once(hub: Hub) -> None:
    operator = bearer(hub.tokens[Role.OPERATOR])
    made = hub.client.post("/api/v1/auth/tokens", json={"name": "laptop"}, headers=operator)
    assert made.status_code == 201
    token = made.json()["token"]
    assert hub.client.get("/api/v1/auth/me", headers=bearer(token)).json() == {
        "username": "operator", "role": "operator", "via": "token",
    }  # fmt: skip
    revoked = hub.client.delete(f"/api/v1/auth/tokens/{made.json()['id']}", headers=bearer(token))
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"] == hub.clock.now
    response = hub.client.get("/api/v1/devices", headers=bearer(token))
    assert response.status_code == 401
    assert response.json()["detail"] == "the token is unknown, expired or revoked"
    assert hub.client.get("/api/v1/devices", headers=operator).status_code == 200  # the other token still works


def test_another_users_token_cannot_be_revoked_except_by_an_admin(hub: Hub) -> None:
    listed = hub.client.get("/api/v1/auth/tokens", headers=bearer(hub.tokens[Role.OPERATOR])).json()
    assert [t["username"] for t in listed] == ["operator"]
    path = f"/api/v1/auth/tokens/{listed[0]['id']}"
    assert hub.client.delete(path, headers=bearer(hub.tokens[Role.VIEWER])).status_code == 404
    assert hub.client.delete(path, headers=bearer(hub.tokens[Role.ADMIN])).status_code == 200
    assert hub.client.get("/api/v1/auth/me", headers=bearer(hub.tokens[Role.OPERATOR])).status_code == 401


def test_an_expired_token_is_refused(hub: Hub) -> None:
    made = hub.client.post("/api/v1/auth/tokens", json={"name": "short", "ttl_s": 60},
                           headers=bearer(hub.tokens[Role.VIEWER]))  # fmt: skip
    token = made.json()["token"]
    assert hub.client.get("/api/v1/auth/me", headers=bearer(token)).status_code == 200
    hub.clock.now += 60
    assert hub.client.get("/api/v1/auth/me", headers=bearer(token)).status_code == 401


def test_disabling_a_user_ends_their_tokens(hub: Hub) -> None:
    admin = bearer(hub.tokens[Role.ADMIN])
    assert hub.client.patch("/api/v1/users/operator", json={"disabled": True}, headers=admin).status_code == 200
    assert hub.client.get("/api/v1/auth/me", headers=bearer(hub.tokens[Role.OPERATOR])).status_code == 401


def test_the_last_admin_cannot_be_demoted(hub: Hub) -> None:
    admin = bearer(hub.tokens[Role.ADMIN])
    response = hub.client.patch("/api/v1/users/admin", json={"role": "viewer"}, headers=admin)
    assert response.status_code == 409
    assert hub.client.get("/api/v1/auth/me", headers=admin).json()["role"] == "admin"


def _login(hub: Hub, username: str, password: str) -> tuple[int, dict[str, object]]:
    response = hub.client.post("/api/v1/auth/login", json={"username": username, "password": password})
    return response.status_code, response.json()


def test_a_session_needs_its_csrf_token_for_changes(hub: Hub) -> None:
    assert _login(hub, "operator", PASSWORD)[0] == 200
    cookie = hub.client.cookies.get(SESSION_COOKIE)
    assert cookie is not None
    again = hub.client.post("/api/v1/auth/login", json={"username": "operator", "password": PASSWORD})
    header = next(h for h in again.headers.get_list("set-cookie") if h.startswith(SESSION_COOKIE))
    assert "HttpOnly" in header
    assert "SameSite=strict" in header or "samesite=strict" in header.lower()
    assert hub.client.get("/api/v1/auth/me").json()["via"] == "session"
    body_ = {"id": "scanner-02", "public_key_pem": device_key_pem(), "profile": "scanner"}
    refused = hub.client.post("/api/v1/devices", json=body_)
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["detail"]
    wrong = hub.client.post("/api/v1/devices", json=body_, headers={CSRF_HEADER: "x" * 43})
    assert wrong.status_code == 403
    csrf = hub.client.post("/api/v1/auth/login", json={"username": "operator", "password": PASSWORD}).json()
    assert hub.client.post("/api/v1/devices", json=body_, headers={CSRF_HEADER: csrf["csrf_token"]}).status_code == 201


def test_logout_ends_the_session(hub: Hub) -> None:
    _, body = _login(hub, "viewer", PASSWORD)
    assert hub.client.post("/api/v1/auth/logout", headers={CSRF_HEADER: str(body["csrf_token"])}).status_code == 204
    cookie_less = hub.client.get("/api/v1/auth/me")
    assert cookie_less.status_code == 401


def test_a_session_expires(hub: Hub) -> None:
    _login(hub, "viewer", PASSWORD)
    assert hub.client.get("/api/v1/auth/me").status_code == 200
    hub.clock.now += WEB.session_ttl_s
    assert hub.client.get("/api/v1/auth/me").status_code == 401


def test_wrong_logins_are_rate_limited_and_logged_without_the_password(
    hub: Hub, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    wrong = "not-the-password-42"
    for _ in range(WEB.login_max_failures):
        status, body = _login(hub, "operator", wrong)
        assert status == 401
        assert body["detail"] == "wrong username or password"
    status, body = _login(hub, "operator", PASSWORD)  # the right password, too late
    assert status == 429
    response = hub.client.post("/api/v1/auth/login", json={"username": "operator", "password": PASSWORD})
    assert 0 < int(response.headers["retry-after"]) <= WEB.login_window_s
    assert _login(hub, "viewer", PASSWORD)[0] == 200  # another user from the same client is not affected
    hub.clock.now += WEB.login_window_s
    assert _login(hub, "operator", PASSWORD)[0] == 200
    assert "wrong login for 'operator'" in caplog.text
    assert wrong not in caplog.text
    assert PASSWORD not in caplog.text
    audit = hub.client.get("/api/v1/audit?action=auth.login", headers=bearer(hub.tokens[Role.ADMIN])).json()
    outcomes = [(a["outcome"], a["detail"]) for a in audit]
    assert outcomes.count(("refused", "wrong username or password")) == WEB.login_max_failures
    assert ("refused", "rate_limited") in outcomes
    assert all(wrong not in str(a) and PASSWORD not in str(a) for a in audit)


def test_an_unknown_user_gets_the_same_answer_as_a_wrong_password(hub: Hub) -> None:
    assert _login(hub, "nobody", PASSWORD) == _login(hub, "operator", "wrong-password-123")
