"""The handheld's screen in real headless Chromium, offline (loopback only): file an incident in a few taps with a
camera photo, an attached file and the (fake) GPS position; see the last scan big and in colour; see what waits to
sync. Screenshots go to ``test-artifacts/handheld/``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, ViewportSize, expect, sync_playwright

from device.camera.fake import FakeCamera
from device.handheld.web import HandheldServer
from protocol.reasons import Decision, Reason
from protocol.topics import Stream
from tests.device.handheld.conftest import Handheld, jpeg

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]  # fmt: skip
ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts" / "handheld"
HANDHELD_SCREEN: ViewportSize = {"width": 480, "height": 854}
WAIT_MS = 15_000


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


@pytest.fixture
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport=HANDHELD_SCREEN, has_touch=True, is_mobile=True)
    context.set_default_timeout(WAIT_MS)
    opened = context.new_page()
    outside: list[str] = []
    opened.on("request", lambda request: outside.append(request.url) if "127.0.0.1" not in request.url else None)
    try:
        yield opened
    finally:
        context.close()
    assert outside == [], f"the page reached beyond the terminal: {outside}"


def test_file_an_incident_in_a_few_taps(handheld: Handheld, server: HandheldServer, page: Page, tmp_path: Path) -> None:
    attached = tmp_path / "pothole.jpg"
    attached.write_bytes(jpeg(640, 480, seed=21))
    page.goto(server.url)
    page.get_by_role("button", name="Report").tap()
    expect(page.locator("#position")).to_contain_text("31.22510, 121.47520")
    page.get_by_role("button", name="Public complaint").tap()
    page.locator("#note").fill("residents report a blocked fire exit")
    page.get_by_role("button", name="Take photo").tap()
    expect(page.locator("#thumbs img")).to_have_count(1)
    page.locator("#photo-file").set_input_files(str(attached))
    expect(page.locator("#thumbs img")).to_have_count(2)
    shot(page, "incident-form")
    page.get_by_role("button", name="Save incident").tap()
    expect(page.locator("#form-message")).to_contain_text("Saved #1 · Public complaint · grid cell PD-07-12")
    shot(page, "incident-saved")

    [(seq, record)] = handheld.store.incidents()
    assert (seq, record.category, record.grid_cell) == (1, "public_complaint", "PD-07-12")
    assert (record.lat, record.lon, record.accuracy_m) == (31.2251, 121.4752, 4.5)
    assert record.note == "residents report a blocked fire exit"
    assert len(record.photos) == 2
    assert handheld.store.image_bytes(record.photos[1].sha256) == attached.read_bytes()
    assert handheld.store.backlog(Stream.INCIDENTS) == 1

    page.get_by_role("button", name="Waiting").tap()
    expect(page.locator("#count-incidents")).to_have_text("1")
    expect(page.locator("#count-images")).to_have_text("2")
    expect(page.locator("#waiting-list li")).to_contain_text("public complaint")
    expect(page.locator("#waiting-list li")).to_contain_text("PD-07-12")
    shot(page, "waiting-to-sync")


def test_the_last_scan_big_and_in_colour(handheld: Handheld, server: HandheldServer, page: Page) -> None:
    page.goto(server.url)
    expect(page.locator("#scan-headline")).to_have_text("READY")
    handheld.services.scans.show(Decision.PASS, Reason.OK, stored=True)
    expect(page.locator("#scan-result")).to_have_class("scan green")
    expect(page.locator("#scan-headline")).to_have_text("PASS")
    assert page.locator("#scan-result").evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(27, 142, 45)"
    size = page.locator("#scan-headline").evaluate("e => parseFloat(getComputedStyle(e).fontSize)")
    assert size >= 64
    shot(page, "scan-pass")
    page.get_by_role("button", name="Report").tap()
    handheld.services.scans.show(Decision.DENY, Reason.REVOKED, stored=True)  # a new scan brings the result forward
    expect(page.locator("#scan-result")).to_have_class("scan red")
    expect(page.locator("#scan-reason")).to_have_text("Pass revoked")
    expect(page.locator("#panel-scan")).to_be_visible()
    shot(page, "scan-revoked")
    handheld.services.scans.show(Decision.CHECK, Reason.STATUS_YELLOW, stored=False)
    expect(page.locator("#scan-result")).to_have_class("scan yellow")
    expect(page.locator("#scan-note")).to_have_text("Not stored: see the status")
    shot(page, "scan-check-unstored")


def test_no_fix_and_a_refusal_are_said_on_screen(handheld: Handheld, server: HandheldServer, page: Page) -> None:
    handheld.gps.position = None
    handheld.tracker.poll()
    page.goto(server.url)
    page.get_by_role("button", name="Report").tap()
    expect(page.locator("#gps-status")).to_have_text("GPS: no fix")
    expect(page.locator("#position")).to_contain_text("saved without one")
    touch_targets = page.locator("button.category").evaluate_all("bs => bs.map(b => b.getBoundingClientRect().height)")
    assert min(touch_targets) >= 64
    page.get_by_role("button", name="Sanitation").tap()
    handheld.tap.camera = FakeCamera([], clock=handheld.clock.monotonic)
    handheld.clock.advance(10)  # the last frame is now too old to be a photo of anything
    page.get_by_role("button", name="Take photo").tap()
    expect(page.locator("#form-message")).to_contain_text("the camera has no picture right now")
    page.get_by_role("button", name="Save incident").tap()
    expect(page.locator("#form-message")).to_contain_text("no GPS position")
    shot(page, "no-fix-saved")
    [(_, record)] = handheld.store.incidents()
    assert (record.lat, record.grid_cell, record.photos) == (None, None, ())
