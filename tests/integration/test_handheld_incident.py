"""The handheld end to end: a grid worker files an incident with a photo and a GPS position on the handheld's screen
(real headless Chromium, the page served by the terminal on loopback) while the network is down (mosquitto stopped);
when the broker is back the incident reaches the hub with its grid cell, and its photo arrives whole (SHA-256 checked
at the hub and compared here with the file the worker attached)."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest
from playwright.sync_api import expect, sync_playwright

from device.app import DeviceApp, Signals, build
from device.camera.fake import FakeCamera
from device.clock import SystemClock
from device.config import validate
from device.gps.fake import FakeGps
from device.signal.fake import FakeIndicator
from hub.storage import media
from hub.storage.devices import enrol
from protocol.keys import Alg, generate_private_key, public_key_pem, spki_der
from tests.integration.rig import ROOT, InProcessHub, Site, provision_terminal
from tests.services.mosquitto import free_port

DEVICE = "handheld-01"
WAIT_S = 90.0
WAIT_MS = 30_000
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]  # fmt: skip
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "handheld"
POSITION = (31.2251, 121.4752, 4.5)
GRID_CELLS = [
    {"code": "PD-07-12", "polygon": [[31.22, 121.47], [31.22, 121.48], [31.23, 121.48], [31.23, 121.47]]},
    {"code": "PD-07-13", "polygon": [[31.23, 121.47], [31.23, 121.48], [31.24, 121.48], [31.24, 121.47]]},
]


class Ntp:
    def synchronized(self) -> bool:
        return True


def wait_for(condition: Callable[[], bool], what: str, timeout_s: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"not reached within {timeout_s:.0f} s: {what}")
        time.sleep(0.05)


@dataclass
class Rig:
    site: Site
    hub: InProcessHub
    app: DeviceApp
    url: str
    stop: threading.Event
    runner: threading.Thread


@pytest.fixture
def rig(site: Site, tmp_path: Path) -> Iterator[Rig]:
    device_key = generate_private_key(Alg.EDDSA)
    with site.admin() as admin:
        admin.enrol_device(DEVICE, "device-pass")
    enrol(site.engine, DEVICE, spki_der(device_key.public_key()), profile="handheld", now=time.time(), site="SH-PD-1")
    hub = InProcessHub(site).start()
    scanner = provision_terminal(
        tmp_path / "terminal", site.broker, device_key, public_key_pem(ROOT.public_key()), device_id=DEVICE,
        sync={"ack_timeout_s": 3.0},
    )  # fmt: skip
    raw = scanner.model_dump(mode="json", exclude_none=True)
    raw["device"]["profile"] = "handheld"
    port = free_port()
    raw["handheld"] = {"grid_cells": GRID_CELLS, "gps": {"kind": "none"}, "web_port": port}
    config = validate(raw)
    clock = SystemClock()
    app = build(
        config, clock=clock, ntp=Ntp(), camera_factory=lambda: FakeCamera([], clock=clock.monotonic),
        signals=Signals(FakeIndicator(), None), gps=FakeGps(POSITION, clock=clock.monotonic),
    )  # fmt: skip
    stop = threading.Event()
    runner = threading.Thread(target=app.run, args=(stop,), name="handheld-terminal")
    try:
        yield Rig(site, hub, app, f"http://127.0.0.1:{port}/", stop, runner)
    finally:
        stop.set()
        if runner.is_alive():
            runner.join(timeout=30)
        hub.stop()


def page_up(url: str) -> bool:
    try:
        return httpx.get(url + "api/state", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def test_an_incident_filed_offline_in_chromium_reaches_the_hub_with_its_grid_cell(rig: Rig, tmp_path: Path) -> None:
    photo = tmp_path / "blocked-exit.jpg"
    image = np.random.default_rng(7).integers(0, 255, (480, 640, 3), dtype=np.uint8)
    photo.write_bytes(bytes(cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])[1]))
    rig.site.broker.stop()  # the network is down before the terminal starts, and stays down while the worker files
    rig.runner.start()
    wait_for(lambda: page_up(rig.url), "the handheld's page answers")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 480, "height": 854}, has_touch=True, is_mobile=True)
            context.set_default_timeout(WAIT_MS)
            page = context.new_page()
            page.goto(rig.url)
            page.get_by_role("button", name="Report").tap()
            expect(page.locator("#position")).to_contain_text("31.22510, 121.47520")
            page.get_by_role("button", name="Public complaint").tap()
            page.locator("#note").fill("blocked fire exit, reported by a resident")
            page.locator("#photo-file").set_input_files(str(photo))
            expect(page.locator("#thumbs img")).to_have_count(1)
            page.get_by_role("button", name="Save incident").tap()
            expect(page.locator("#form-message")).to_contain_text("Saved #1 · Public complaint · grid cell PD-07-12")
            page.get_by_role("button", name="Waiting").tap()
            expect(page.locator("#count-incidents")).to_have_text("1")
            page.screenshot(path=str(ARTIFACTS / "offline-waiting.png"), full_page=True)
            assert media.list_incidents(rig.site.engine, device=DEVICE) == []  # nothing can have left the terminal

            rig.site.broker.start()  # the network is back
            wait_for(
                lambda: any(p.complete for i in media.list_incidents(rig.site.engine, device=DEVICE) for p in i.photos),
                "the incident and its photo at the hub",
            )
            expect(page.locator("#count-incidents")).to_have_text("0")  # acknowledged: nothing waits any more
            page.screenshot(path=str(ARTIFACTS / "synced.png"), full_page=True)
            context.close()
        finally:
            browser.close()

    [incident] = media.list_incidents(rig.site.engine, device=DEVICE)
    assert (incident.seq, incident.category, incident.grid_cell) == (1, "public_complaint", "PD-07-12")
    assert (incident.lat, incident.lon, incident.accuracy_m) == POSITION
    assert incident.note == "blocked fire exit, reported by a resident"
    assert incident.time_source == "ntp"
    [stored_photo] = incident.photos
    expected = hashlib.sha256(photo.read_bytes()).hexdigest()
    assert stored_photo.sha256 == expected
    data = media.get_image(rig.site.engine, expected)
    assert data == photo.read_bytes()
    handheld = rig.app.handheld  # its status part (thread-safe; the whole document reads the scan loop's store)
    assert handheld is not None
    status = handheld.status()
    assert status["incidents"] == {"filed": 1, "refused": {}}
    assert status["gps"]["state"] == "fix"
    rig.stop.set()
    rig.runner.join(timeout=30)
    assert not rig.runner.is_alive()
