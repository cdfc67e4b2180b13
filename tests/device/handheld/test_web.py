"""The page's HTTP side over real HTTP on loopback: state, photo, filing, and what it refuses (origin, host, size)."""

from __future__ import annotations

import httpx
import pytest

from device.handheld.web import HandheldServer
from device.store import DeviceStore
from protocol.reasons import Decision, Reason
from protocol.topics import Stream
from tests.device.handheld.conftest import Handheld, jpeg

TIMEOUT_S = 30.0


def client(server: HandheldServer, *, origin: str | None = "self") -> httpx.Client:
    headers = {} if origin is None else {"Origin": server.url.rstrip("/") if origin == "self" else origin}
    return httpx.Client(base_url=server.url, headers=headers, timeout=TIMEOUT_S)


def test_state_shows_scan_gps_and_backlog(handheld: Handheld, server: HandheldServer) -> None:
    handheld.services.scans.show(Decision.DENY, Reason.REVOKED, stored=True)
    with client(server) as http:
        state = http.get("/api/state").json()
    assert state["scan"]["colour"] == "red"
    assert state["scan"]["reason_text"] == "Pass revoked"
    assert state["gps"]["state"] == "fix"
    assert state["gps"]["fix"]["lat"] == pytest.approx(31.2251)
    assert state["backlog"]["streams"] == {"events": 0, "incidents": 0, "snapshots": 0}
    assert state["problems"] == []


def test_file_an_incident_with_two_photos(handheld: Handheld, server: HandheldServer) -> None:
    with client(server) as http:
        taken = http.post("/api/photo")
        assert taken.status_code == 200
        assert taken.headers["content-type"] == "image/jpeg"
        files = [("photos", ("a.jpg", taken.content, "image/jpeg")), ("photos", ("b.jpg", jpeg(seed=3), "image/jpeg"))]
        filed = http.post("/api/incidents", data={"category": "public_complaint", "note": "blocked exit"}, files=files)
        assert filed.status_code == 201, filed.text
        body = filed.json()
        assert (body["seq"], body["grid_cell"], body["photos"], body["label"]) == (1, "PD-07-12", 2, "Public complaint")
        state = http.get("/api/state").json()
    assert state["backlog"]["streams"]["incidents"] == 1
    assert state["backlog"]["images"]["count"] == 2
    assert state["backlog"]["incidents"][0]["grid_cell"] == "PD-07-12"
    [(seq, record)] = handheld.store.incidents()
    assert (seq, record.note, len(record.photos)) == (1, "blocked exit", 2)
    assert handheld.store.image_bytes(record.photos[0].sha256) == taken.content
    assert handheld.store.backlog(Stream.INCIDENTS) == 1


def test_no_fix_files_without_a_position(handheld: Handheld, server: HandheldServer) -> None:
    handheld.gps.position = None
    handheld.tracker.poll()
    with client(server) as http:
        assert http.get("/api/state").json()["gps"]["state"] == "no_fix"
        body = http.post("/api/incidents", data={"category": "other", "note": ""}).json()
    assert (body["position"], body["grid_cell"]) == (None, "")


@pytest.mark.parametrize(
    ("form", "status", "reason"),
    [
        (({"category": "bogus"}, None), 422, "unknown_category"),
        (({"category": "other", "note": "n" * 501}, None), 422, "note_too_long"),
        (({"category": "other"}, [("photos", ("x.jpg", b"not a jpeg", "image/jpeg"))]), 422, "photo_not_jpeg"),
        (({"category": "other"}, [("photos", ("x.jpg", b"\xff\xd8" + bytes(600 * 1024), "image/jpeg"))]), 413, None),
        (({}, None), 422, "bad_form"),
    ],
)
def test_bad_forms_are_refused_with_a_reason(
    handheld: Handheld,
    server: HandheldServer,
    form: tuple[dict[str, str], list[tuple[str, tuple[str, bytes, str]]] | None],
    status: int,
    reason: str | None,
) -> None:
    data, files = form
    with client(server) as http:
        response = http.post("/api/incidents", data=data, files=files)
    assert response.status_code == status
    if reason is not None:
        assert response.json()["reason"] == reason
    assert handheld.store.incidents() == []


def test_a_body_over_the_limit_is_refused_before_parsing(handheld: Handheld, server: HandheldServer) -> None:
    limit = handheld.services.max_body_bytes
    with client(server) as http:
        response = http.post("/api/incidents", content=b"x" * (limit + 1), headers={"content-type": "text/plain"})
    assert response.status_code == 413
    assert response.json()["reason"] == "too_large"


def test_other_origins_and_hosts_are_refused(handheld: Handheld, server: HandheldServer) -> None:
    with client(server, origin="http://evil.example") as http:
        assert http.post("/api/incidents", data={"category": "other"}).status_code == 403
        assert http.post("/api/photo").status_code == 403
    with client(server, origin=None) as http:
        assert http.post("/api/incidents", data={"category": "other"}).status_code == 403
    with client(server) as http:
        rebound = http.get("/api/state", headers={"Host": "evil.example"})
        assert rebound.status_code == 421
        cross = http.post("/api/photo", headers={"Sec-Fetch-Site": "cross-site"})
        assert cross.status_code == 403
    assert handheld.services.refused_requests == 5
    assert handheld.store.incidents() == []


def test_a_full_disk_is_said_and_nothing_stored_is_lost(handheld: Handheld, server: HandheldServer) -> None:
    with client(server) as http:
        assert http.post("/api/incidents", data={"category": "other", "note": "first"}).status_code == 201
        desk_store = handheld.services.desk.store
        assert isinstance(desk_store, DeviceStore)
        pages = desk_store.db.execute("PRAGMA page_count").fetchone()[0]
        desk_store.db.execute(f"PRAGMA max_page_count = {pages}")
        files = [("photos", ("a.jpg", jpeg(seed=9), "image/jpeg"))]
        full = http.post("/api/incidents", data={"category": "other", "note": "second"}, files=files)
        assert full.status_code == 507
        assert full.json()["reason"] == "storage_full"
        problems = http.get("/api/state").json()["problems"]
    assert any("incidents:" in problem for problem in problems)
    assert [record.note for _, record in handheld.store.incidents()] == ["first"]


def test_the_page_renders_without_network(handheld: Handheld, server: HandheldServer) -> None:
    with client(server) as http:
        page = http.get("/")
        css = http.get("/static/handheld.css")
        script = http.get("/static/handheld.js")
    assert page.status_code == css.status_code == script.status_code == 200
    assert "Public complaint" in page.text
    assert "Damaged facility" in page.text
    assert "Sanitation" in page.text
    assert "http" not in page.text.replace(server.url, "")  # nothing fetched from elsewhere
    assert "default-src 'self'" in page.headers["content-security-policy"]
