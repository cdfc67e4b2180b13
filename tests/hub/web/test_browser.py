"""The dashboard in real headless Chromium: log in, see the fleet, push a config, decommission a terminal and find it
refused; the site view and statistics at 20 and at 2,000 terminals, screenshotted to ``test-artifacts/dashboard/``."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from playwright.sync_api import Page, expect

from hub.api.services import HubServices
from hub.config_signer import ConfigSigner
from hub.ingest import Ingest
from hub.operations.configs import current_config
from hub.storage import stats
from hub.storage.devices import DeviceStatus, get_device
from hub.storage.models import Event
from hub.web.live import LiveSettings
from protocol import topics
from protocol.device_config import make_delegation
from protocol.envelope import Batch, Record, seal_batch
from protocol.keys import Alg, generate_private_key, private_key_pem
from protocol.records import ScanRecord
from protocol.topics import Stream
from tests.hub.web.browser import BIG_SCREEN, LAPTOP, chromium, served, shot_path
from tests.hub.web.conftest import PASSWORD, Hub
from tests.hub.web.fleet import NOW, FleetSize, populate

pytestmark = pytest.mark.slow

BROWSER_LIVE = LiveSettings(interval_s=0.5, max_s=4.0, retry_ms=500)
ROOT = generate_private_key(Alg.EDDSA)
HUB_KEY = generate_private_key(Alg.EDDSA)
FLEET_KEY = ed25519.Ed25519PrivateKey.from_private_bytes(bytes(32))
"""The generated fleet's terminals all hold this key (test data), so the test can sign as any of them."""
UI_WAIT_MS = 15_000


def _signer(tmp_path: Path) -> ConfigSigner:
    (tmp_path / "hub.key.pem").write_bytes(private_key_pem(HUB_KEY))
    delegation = make_delegation(ROOT, "hub-1", HUB_KEY.public_key(), nbf=int(NOW) - 60, exp=int(NOW) + 86400)
    (tmp_path / "delegation.cose").write_bytes(delegation)
    return ConfigSigner.load(tmp_path / "hub.key.pem", tmp_path / "delegation.cose", ROOT.public_key(), now=NOW)


def _batch(device: str, seq: int) -> bytes:
    record = ScanRecord(boot="cd" * 16, at=NOW - 5, time_source="ntp", decision="pass", reason="ok", kind="GP1",
                        iss="CN-SH-HB", status="green", latency_ms=50.0)  # fmt: skip
    return seal_batch(Batch(device, Stream.EVENTS, bytes.fromhex("cd" * 16), [Record(seq, record.fields())]), FLEET_KEY)


def _log_in(page: Page, base: str, username: str) -> None:
    page.goto(f"{base}/web/")
    expect(page).to_have_url(f"{base}/web/login?next=/web/")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{base}/web/")


def _events(hub: Hub, device: str) -> int:
    with hub.engine.connect() as conn:
        return len(conn.execute(Event.__table__.select().where(Event.device_id == device)).all())


def test_operator_sees_the_fleet_pushes_a_config_and_decommissions(hub: Hub, tmp_path: Path) -> None:
    populate(hub.engine, FleetSize(terminals=20, events=3000))
    entries = stats.fleet(hub.engine)
    target = next(e.device_id for e in entries if e.status is DeviceStatus.ENROLLED and e.profile == "scanner")
    services = HubServices(hub.engine, hub.clock, publisher=hub.publisher, config_signer=_signer(tmp_path))
    app = hub.app(services, live=BROWSER_LIVE)
    ingest = Ingest(hub.engine, lambda _t, _p: True, clock=hub.clock, monotonic=hub.clock)
    ingest.handle(topics.up(target, Stream.EVENTS), _batch(target, 9001))
    before = _events(hub, target)
    with served(app) as server, chromium() as browser:
        page = browser.new_page(viewport=BIG_SCREEN)
        page.on("dialog", lambda dialog: dialog.accept())
        _log_in(page, server.base, "olga")
        expect(page.locator("use.dot[data-device]")).to_have_count(len(entries))
        expect(page.locator("body[data-live-updates]")).to_be_attached(timeout=UI_WAIT_MS)
        expect(page.locator("#live-status")).to_contain_text("live")
        page.screenshot(path=str(shot_path("site-20")), full_page=True)

        page.goto(f"{server.base}/web/devices")
        expect(page.locator(f'a[href="/web/devices/{target}"]')).to_be_visible()
        page.locator(f'a[href="/web/devices/{target}"]').first.click()
        expect(page.locator("h1")).to_contain_text(target)

        page.locator("textarea[name=settings]").fill('{"scan": {"hold_off_s": 4.5}}')
        page.get_by_role("button", name="Push configuration").click()
        expect(page.locator(".flash.ok")).to_contain_text("configuration version 1")
        pushed = current_config(hub.engine, target)
        assert pushed is not None
        assert pushed.settings == {"scan": {"hold_off_s": 4.5}}
        assert any(t.endswith(f"/{target}/down/config") and retain for t, _, retain in hub.publisher.sent)

        page.get_by_label("I mean it").check()
        page.get_by_role("button", name=f"Decommission {target}").click()
        expect(page.locator(".flash.ok")).to_contain_text("decommissioned")
        expect(page.locator("dd.status-decommissioned")).to_have_text("decommissioned")
        page.screenshot(path=str(shot_path("device-decommissioned")), full_page=True)

        # The terminal, still running somewhere, sends its next batch: the hub refuses it and stores nothing.
        ingest.handle(topics.up(target, Stream.EVENTS), _batch(target, 9002))
        assert _events(hub, target) == before
        page.reload()
        expect(page.locator("dd.refusals")).to_contain_text("unknown_device 1")

        page.goto(f"{server.base}/web/stats")
        expect(page.locator("svg.chart")).to_be_visible()
        page.screenshot(path=str(shot_path("stats-20")), full_page=True)

        viewer = browser.new_page(viewport=LAPTOP)
        _log_in(viewer, server.base, "vic")
        other = next(e.device_id for e in entries if e.status is DeviceStatus.ENROLLED and e.device_id != target)
        viewer.goto(f"{server.base}/web/devices/{other}")
        expect(viewer.locator("h1")).to_contain_text(other)
        expect(viewer.get_by_role("button", name=f"Decommission {other}")).to_have_count(0)
        viewer.screenshot(path=str(shot_path("device-viewer-laptop")), full_page=True)
        page.close()
        viewer.close()
    view = get_device(hub.engine, target)
    assert view is not None
    assert view.status is DeviceStatus.DECOMMISSIONED
    assert ingest.refusals["unknown_device"] == 1


def test_site_view_and_statistics_at_two_thousand_terminals(hub: Hub) -> None:
    populate(hub.engine, FleetSize(terminals=2000, events=200_000))
    entries = stats.fleet(hub.engine)
    with served(hub.app(live=BROWSER_LIVE)) as server, chromium() as browser:
        page = browser.new_page(viewport=BIG_SCREEN)
        _log_in(page, server.base, "vic")
        expect(page.locator("use.dot[data-device]")).to_have_count(len(entries))
        expect(page.locator("article.site")).to_have_count(len({e.site for e in entries}))
        page.screenshot(path=str(shot_path("site-2000")), full_page=True)
        page.screenshot(path=str(shot_path("site-2000-screen")))
        page.goto(f"{server.base}/web/stats")
        expect(page.locator("svg.chart g.bar")).to_have_count(24)
        page.screenshot(path=str(shot_path("stats-2000")), full_page=True)
        laptop = browser.new_page(viewport=LAPTOP)
        _log_in(laptop, server.base, "vic")
        laptop.screenshot(path=str(shot_path("site-2000-laptop")))
        page.close()
        laptop.close()
