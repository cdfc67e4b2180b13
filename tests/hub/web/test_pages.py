"""Every dashboard page through the real app: login required, what a viewer sees and cannot do, what an operator does
through the same operations as the API (audited), statistics and CSV, media, live events, static files."""

from __future__ import annotations

import csv
import io
import re

import pytest
from fastapi.testclient import TestClient

from hub.operations import commands
from hub.operations.audit import entries
from hub.storage import stats
from hub.storage.devices import DeviceStatus, get_device
from hub.web.session import SECURITY_HEADERS
from tests.hub.web.conftest import PASSWORD, Hub, login
from tests.hub.web.fleet import FleetSize, populate

PAGES = ("/web/", "/web/devices", "/web/stats", "/web/stats.csv", "/web/lists", "/web/incidents", "/web/snapshots")


@pytest.fixture
def fleet(hub: Hub) -> list[str]:
    """Twenty terminals and two thousand events."""
    return populate(hub.engine, FleetSize(terminals=20, events=2000))


def _enrolled(hub: Hub, fleet: list[str]) -> str:
    """An enrolled terminal that has made decisions."""
    return next(
        d for d in fleet
        if (v := get_device(hub.engine, d)) and v.status is DeviceStatus.ENROLLED
        and stats.recent_decisions(hub.engine, d, limit=1)
    )  # fmt: skip


@pytest.mark.parametrize("path", [*PAGES, "/web/devices/sc-01-001", "/web/images/" + "a" * 64])
def test_every_page_needs_a_login(client: TestClient, path: str) -> None:
    response = client.get(path, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/web/login?next=")
    assert client.get("/web/events").status_code == 401


def test_login_wrong_then_right_then_logout(client: TestClient, hub: Hub) -> None:
    wrong = client.post("/web/login", data={"username": "olga", "password": "not the one at all"})
    assert wrong.status_code == 401
    assert "Wrong user name or password" in wrong.text
    assert "not the one" not in wrong.text
    right = client.post("/web/login", data={"username": "olga", "password": PASSWORD, "next": "/web/lists"},
                        follow_redirects=False)  # fmt: skip
    assert right.status_code == 303
    assert right.headers["location"] == "/web/lists"
    cookie = right.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "samesite=strict" in cookie.lower()
    csrf = login(client, "olga")
    assert client.get("/web/login", follow_redirects=False).status_code == 303  # already logged in
    client.post("/web/logout", data={"csrf_token": csrf})
    assert client.get("/web/", follow_redirects=False).status_code == 303
    actions = [e.action for e in entries(hub.engine)]
    assert "auth.login" in actions
    assert "auth.logout" in actions


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/api/v1/users", "javascript:x"])
def test_login_goes_only_to_dashboard_pages(client: TestClient, target: str) -> None:
    response = client.post("/web/login", data={"username": "vic", "password": PASSWORD, "next": target},
                           follow_redirects=False)  # fmt: skip
    assert response.headers["location"] == "/web/"


def test_site_view_shows_every_site_cell_and_terminal(client: TestClient, hub: Hub, fleet: list[str]) -> None:
    login(client, "vic")
    page = client.get("/web/")
    assert page.status_code == 200
    for header, value in SECURITY_HEADERS.items():
        assert page.headers[header] == value
    entries_ = stats.fleet(hub.engine)
    for entry in entries_:
        assert f'data-device="{entry.device_id}"' in page.text
    for site in {e.site for e in entries_}:
        assert f'data-site="{site}"'.replace("'", "&#39;") in page.text
    counts = stats.decision_counts(hub.engine, stats.Window.last(3600, now=hub.clock.now))
    assert f'data-decision="pass">{counts["pass"]}<' in page.text
    assert 'class="legend"' in page.text
    assert "offline (connection lost)" in page.text  # shape and words, not colour alone


def test_site_names_are_escaped(client: TestClient, hub: Hub) -> None:
    populate(hub.engine, FleetSize(terminals=2, events=0))
    with hub.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE devices SET site = '<script>alert(1)</script>', grid_cell = '\"><b>x'")
    login(client, "vic")
    for path in ("/web/", "/web/devices", "/web/stats", "/web/lists"):
        text = client.get(path).text
        assert "<script>alert" not in text
        assert '"><b>x' not in text


def test_device_list_filters(client: TestClient, hub: Hub, fleet: list[str]) -> None:
    login(client, "vic")
    everything = client.get("/web/devices")
    assert all(f'/web/devices/{d}"' in everything.text for d in fleet)
    site = stats.fleet(hub.engine)[0].site
    one_site = client.get("/web/devices", params={"site": site})
    expected = [e.device_id for e in stats.fleet(hub.engine, site=site)]
    assert sorted(re.findall(r'<td><a href="/web/devices/([a-z0-9-]+)">', one_site.text)) == sorted(expected)
    online = client.get("/web/devices", params={"state": "online"})
    shown = re.findall(r'<td><a href="/web/devices/([a-z0-9-]+)">', online.text)
    assert shown
    assert all(stats.presence_key(e) == "online" for e in stats.fleet(hub.engine) if e.device_id in shown)


def test_viewer_sees_a_device_but_cannot_act(client: TestClient, hub: Hub, fleet: list[str]) -> None:
    device = _enrolled(hub, fleet)
    csrf = login(client, "vic")
    page = client.get(f"/web/devices/{device}")
    assert page.status_code == 200
    assert "Recent decisions" in page.text
    assert "/decommission" not in page.text
    assert "/command" not in page.text
    assert "Push configuration" not in page.text
    refused = client.post(f"/web/devices/{device}/decommission", data={"csrf_token": csrf, "confirm": "yes"})
    assert refused.status_code == 403
    sent = client.post(f"/web/devices/{device}/command", data={"csrf_token": csrf, "command": "sync_now"})
    assert sent.status_code == 403
    view = get_device(hub.engine, device)
    assert view is not None
    assert view.status is DeviceStatus.ENROLLED
    assert commands.list_commands(hub.engine, device_id=device) == []
    refusals = [e for e in entries(hub.engine) if e.outcome.value == "refused" and e.actor == "vic"]
    assert {e.action for e in refusals} == {"device.decommission", "command.send"}


def test_device_page_shows_reasons_and_no_pass_data(client: TestClient, hub: Hub, fleet: list[str]) -> None:
    device = _enrolled(hub, fleet)
    login(client, "vic")
    text = client.get(f"/web/devices/{device}").text
    recent = stats.recent_decisions(hub.engine, device, limit=5)
    assert recent
    assert recent[0].reason in text
    assert "CN-SH-HB" not in text  # the issuer of the passes
    assert "GP1" not in text
    assert client.get("/web/devices/no-such-device").status_code == 404


def test_operator_commands_and_decommissions_with_csrf(client: TestClient, hub: Hub, fleet: list[str]) -> None:
    device = _enrolled(hub, fleet)
    csrf = login(client, "olga")
    page = client.get(f"/web/devices/{device}")
    assert "/decommission" in page.text
    no_token = client.post(f"/web/devices/{device}/decommission", data={"confirm": "yes"})
    assert no_token.status_code == 422
    bad_token = client.post(f"/web/devices/{device}/decommission", data={"csrf_token": "x" * 43, "confirm": "yes"})
    assert bad_token.status_code == 403
    sent = client.post(f"/web/devices/{device}/command", data={"csrf_token": csrf, "command": "sync_now"},
                       follow_redirects=False)  # fmt: skip
    assert sent.status_code == 303
    assert [c.command for c in commands.list_commands(hub.engine, device_id=device)] == ["sync_now"]
    assert hub.publisher.sent[-1][0].endswith(f"/{device}/down/cmd")
    wipe = client.post(f"/web/devices/{device}/command", data={"csrf_token": csrf, "command": "wipe"})
    assert "does not send" in wipe.text
    unticked = client.post(f"/web/devices/{device}/decommission", data={"csrf_token": csrf})
    assert "I mean it" in unticked.text
    done = client.post(f"/web/devices/{device}/decommission", data={"csrf_token": csrf, "confirm": "yes"})
    assert done.status_code == 200
    assert "decommissioned" in done.text
    view = get_device(hub.engine, device)
    assert view is not None
    assert view.status is DeviceStatus.DECOMMISSIONED
    assert "/decommission" not in client.get(f"/web/devices/{device}").text
    again = client.post(f"/web/devices/{device}/command", data={"csrf_token": csrf, "command": "sync_now"})
    assert "only an enrolled device takes commands" in again.text
    audit = [(e.action, e.outcome.value, e.actor) for e in entries(hub.engine)]
    assert ("device.decommission", "ok", "olga") in audit
    assert ("command.send", "ok", "olga") in audit


def test_config_push_without_a_signing_key_is_refused_with_the_reason(
    client: TestClient, hub: Hub, fleet: list[str]
) -> None:
    device = _enrolled(hub, fleet)
    csrf = login(client, "olga")
    page = client.get(f"/web/devices/{device}")
    assert "Push configuration" in page.text
    not_json = client.post(f"/web/devices/{device}/config", data={"csrf_token": csrf, "settings": "{nope"})
    assert "not valid JSON" in not_json.text
    refused = client.post(f"/web/devices/{device}/config", data={"csrf_token": csrf, "settings": "{}"})
    assert "no config signing key" in refused.text


def test_statistics_page_chart_and_csv(client: TestClient, hub: Hub, fleet: list[str]) -> None:
    login(client, "vic")
    page = client.get("/web/stats", params={"hours": 24})
    assert page.status_code == 200
    assert '<svg class="chart"' in page.text
    assert page.text.count('<g class="bar">') == 24
    window = stats.Window.hours(24, now=hub.clock.now)
    rows = stats.hourly_counts(hub.engine, window)
    total = sum(r.count for r in rows)
    assert total > 0
    assert f"<dt>pass</dt><dd>{sum(r.count for r in rows if r.decision == 'pass')}</dd>" in page.text
    exported = client.get("/web/stats.csv", params={"hours": 24})
    assert exported.status_code == 200
    assert exported.headers["content-type"] == "text/csv; charset=utf-8"
    assert exported.headers["content-disposition"].startswith('attachment; filename="gridpass-stats-')
    parsed = list(csv.DictReader(io.StringIO(exported.text)))
    assert sum(int(r["count"]) for r in parsed) == total
    assert {r["decision"] for r in parsed} <= set(stats.DECISIONS)
    site = rows[0].site
    one = list(csv.DictReader(io.StringIO(client.get("/web/stats.csv", params={"site": site}).text)))
    assert {r["site"] for r in one} == {site}
    odd = client.get("/web/stats", params={"hours": 5})  # not offered: the default
    assert "24 h" in odd.text


def test_lists_page_names_stale_terminals(client: TestClient, hub: Hub, fleet: list[str]) -> None:
    login(client, "vic")
    current, rows = stats.device_lists(hub.engine)
    page = client.get("/web/lists")
    assert f"{sum(1 for r in rows if r.stale)} of {len(rows)} stale" in page.text
    stale_only = client.get("/web/lists", params={"stale": 1})
    shown = re.findall(r'<td><a href="/web/devices/([a-z0-9-]+)">', stale_only.text)
    assert sorted(shown) == sorted(r.device_id for r in rows if r.stale)
    assert str(max(v.seq for v in current)) in page.text


def test_incidents_snapshots_and_images(client: TestClient, hub: Hub) -> None:
    populate(hub.engine, FleetSize(terminals=120, events=10))
    login(client, "vic")
    incidents = client.get("/web/incidents")
    shas = re.findall(r'<img src="/web/images/([0-9a-f]{64})"', incidents.text)
    assert shas
    assert "Gate relay clicks" in incidents.text or "Queue past the barrier" in incidents.text
    image = client.get(f"/web/images/{shas[0]}")
    assert image.status_code == 200
    assert image.headers["content-type"] == "image/png"
    assert image.content.startswith(b"\x89PNG")
    snapshots = client.get("/web/snapshots")
    assert re.search(r'<img src="/web/images/[0-9a-f]{64}"', snapshots.text)
    assert client.get("/web/images/" + "0" * 64).status_code == 404
    assert client.get("/web/images/not-a-hash").status_code == 404


def test_live_events_stream_counts_and_end(client: TestClient, hub: Hub, fleet: list[str]) -> None:
    login(client, "vic")
    response = client.get("/web/events")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    frames = [f for f in response.text.split("\n\n") if f.startswith("event: counts")]
    assert frames
    first = frames[0].split("data: ", 1)[1]
    assert '"presence"' in first
    assert all(f'"{d}"' in first for d in fleet)  # the first tick names every device


def test_static_files_are_vendored_and_nothing_else(client: TestClient) -> None:
    css = client.get("/web/static/app.css")
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")
    assert client.get("/web/static/live.js").headers["content-type"].startswith("text/javascript")
    for name in ("../app.py", "secret.txt", "%2e%2e%2fapp.py"):
        assert client.get(f"/web/static/{name}").status_code == 404


def test_pages_load_nothing_from_elsewhere(client: TestClient, fleet: list[str]) -> None:
    login(client, "olga")
    for path in ("/web/", "/web/devices", "/web/stats", "/web/lists", f"/web/devices/{fleet[0]}"):
        text = client.get(path).text
        assert not re.search(r'(src|href)="(https?:)?//', text), path


def test_device_list_pages_through_a_big_fleet(client: TestClient, hub: Hub) -> None:
    populate(hub.engine, FleetSize(terminals=300, events=0))
    login(client, "vic")
    seen: list[str] = []
    url: str | None = "/web/devices"
    while url is not None:
        page = client.get(url)
        seen += re.findall(r'<td><a href="/web/devices/([a-z0-9-]+)">', page.text)
        match = re.search(r'<a class="button" href="([^"]+)" rel="next">', page.text)
        url = match.group(1).replace("&amp;", "&") if match else None
    assert seen == [e.device_id for e in stats.fleet(hub.engine)]
    assert "page 2 of 2" in client.get("/web/devices", params={"page": 99}).text
