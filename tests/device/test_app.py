"""The whole terminal on the synthetic feed: real passes rendered into camera frames, the real decoder, the real
stores and lists; green opens the gate, yellow and stale lists say check, red, revoked, expired and forged are
refused with the right reason, and every decision is in SQLite."""

from __future__ import annotations

import threading
import urllib.request
from pathlib import Path

import pytest

from device.app import DeviceApp, Signals, build
from device.camera.synthetic import Presentation, SyntheticCamera
from device.clock import FakeClock
from device.config import validate
from device.lists import REVOCATIONS_SUBDIR, TRUST_SUBDIR
from device.lists.revocation_store import RevocationStore
from device.lists.trust_store import TrustStore
from device.signal.fake import FakeGate, FakeIndicator
from device.vision.render import Distortion
from district.passes import issue
from protocol.gp1 import PassStatus
from protocol.keys import Alg, generate_private_key, public_key_pem
from protocol.revocation import build_revocation_update, parse_revocation_update
from protocol.trustlist import TrustedIssuer, build_trust_list

NOW = 1_800_000_000
ROOT = generate_private_key(Alg.EDDSA)
ISSUER = generate_private_key(Alg.ES256)
ROGUE = generate_private_key(Alg.ES256)


class Ntp:
    def synchronized(self) -> bool:
        return True


def provision(data_dir: Path) -> Path:
    """What flashing and the first list updates leave on a terminal."""
    root_pem = data_dir / "root.pub.pem"
    data_dir.mkdir(parents=True, exist_ok=True)
    root_pem.write_bytes(public_key_pem(ROOT.public_key()))
    entry = TrustedIssuer.for_key(ISSUER.public_key(), "CN-ZJ-HZ", nbf=NOW - 86400, exp=NOW + 86400 * 365)
    trust = TrustStore.open(data_dir / "lists" / TRUST_SUBDIR, ROOT.public_key())
    trust.apply(build_trust_list(ROOT, seq=1, ts=NOW - 60, issuers=[entry]))
    return root_pem


def revoke(data_dir: Path, rid: bytes) -> None:
    store = RevocationStore.open(data_dir / "lists" / REVOCATIONS_SUBDIR, "CN-SH-PD", create=True)
    update = build_revocation_update(ROOT, list_id="CN-SH-PD", seq=1, base=0, ts=NOW - 60, add=[rid])
    store.apply(parse_revocation_update(update, ROOT.public_key()))
    store.close()


def make_app(tmp_path: Path, script: list[Presentation], clock: FakeClock) -> tuple[DeviceApp, FakeIndicator, FakeGate]:
    data_dir = tmp_path / "var"
    root_pem = provision(data_dir)
    revoked = issue(ISSUER, iss="CN-ZJ-HZ", status=PassStatus.GREEN, iat=NOW - 3600)
    revoke(data_dir, revoked.holder_rid)
    config = validate(
        {
            "device": {"id": "scanner-01", "profile": "scanner", "site": "SH-PD-1", "data_dir": str(data_dir)},
            "camera": {"kind": "synthetic", "width": 640, "height": 480},
            "signal": {"indicator": "console", "gate": "console"},
            "lists": {"root_key": str(root_pem), "list_id": "CN-SH-PD"},
            "metrics": {"port": 0},
        }
    )
    indicator, gate = FakeIndicator(), FakeGate()
    full_script = [Presentation(revoked.qr_text, frames=10), *script]
    app = build(
        config,
        clock=clock,
        ntp=Ntp(),
        camera_factory=lambda: SyntheticCamera(full_script, trailing_gap=3, clock=clock.monotonic),
        signals=Signals(indicator, gate),
    )
    app.lists.mark_current(clock.now)
    return app, indicator, gate


def gp1(status: PassStatus, *, key: object = ISSUER, iat: int = NOW - 3600, exp: int | None = None) -> str:
    return issue(key, iss="CN-ZJ-HZ", status=status, iat=iat, exp=exp).qr_text  # type: ignore[arg-type]


def drain(app: DeviceApp, clock: FakeClock) -> None:
    while app.loop.step() is not None:
        clock.advance(1 / 15)


def test_the_scan_path_end_to_end(tmp_path: Path) -> None:
    clock = FakeClock(now=float(NOW))
    script = [
        Presentation(gp1(PassStatus.GREEN), frames=10, distortion=Distortion(module_px=4, angle_deg=12, look="phone")),
        Presentation(gp1(PassStatus.YELLOW), frames=10, distortion=Distortion(module_px=5, blur_sigma=0.8)),
        Presentation(gp1(PassStatus.RED), frames=10, distortion=Distortion(module_px=4, tilt_deg=25)),
        Presentation(gp1(PassStatus.GREEN, iat=NOW - 90000, exp=NOW - 3600), frames=10),
        Presentation(gp1(PassStatus.GREEN, key=ROGUE), frames=10, distortion=Distortion(glare=0.4)),
    ]
    app, indicator, gate = make_app(tmp_path, script, clock)
    drain(app, clock)
    reasons = [event.event.reason for event in app.store.events()]
    assert reasons == ["revoked", "ok", "status_yellow", "status_red", "expired", "unknown_kid"]
    assert [d.value for d in indicator.shown] == ["deny", "pass", "check", "deny", "deny", "invalid"]
    assert gate.opened == [3000]
    assert all(event.event.time_source == "ntp" for event in app.store.events())
    assert all(event.boot_id == app.boot_id for event in app.store.events())
    status = app.status()
    assert status["streams"]["events"]["backlog"] == 6  # type: ignore[index]
    assert status["lists"]["stale"] is False  # type: ignore[index]
    app.store.db.close()


def test_stale_lists_turn_a_pass_into_a_check(tmp_path: Path) -> None:
    clock = FakeClock(now=float(NOW))
    week_long = gp1(PassStatus.GREEN, exp=NOW + 7 * 86400)
    app, _indicator, gate = make_app(tmp_path, [Presentation(week_long, frames=10)], clock)
    clock.advance(4 * 86400)  # four days without hearing from the hub
    drain(app, clock)
    assert [e.event.reason for e in app.store.events()][-1] == "lists_stale"
    assert gate.opened == []
    app.store.db.close()


def test_run_serves_metrics_and_stops_cleanly(tmp_path: Path) -> None:
    clock = FakeClock(now=float(NOW))
    app, indicator, _gate = make_app(tmp_path, [Presentation(gp1(PassStatus.GREEN), frames=10)], clock)
    stop = threading.Event()
    runner = threading.Thread(target=app.run, args=(stop,))
    runner.start()
    assert indicator.changed.wait(timeout=30)
    stop.set()
    runner.join(timeout=30)
    assert not runner.is_alive()
    assert (app.config.device.data_dir / "status.json").exists()


def test_metrics_endpoint_on_loopback(tmp_path: Path) -> None:
    from device.metrics import DeviceMetrics, MetricsServer

    metrics = DeviceMetrics()
    metrics.decisions.labels("pass", "ok").inc()
    server = MetricsServer(metrics, 0)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics", timeout=10) as response:
            body = response.read().decode()
    finally:
        server.stop()
    assert 'gridpass_decisions_total{decision="pass",reason="ok"} 1.0' in body


def test_a_missing_root_key_says_what_to_do(tmp_path: Path) -> None:
    from device.app import DeviceSetupError

    config = validate(
        {
            "device": {"id": "s1", "profile": "scanner", "site": "x", "data_dir": str(tmp_path)},
            "camera": {"kind": "synthetic"},
            "signal": {"indicator": "console"},
            "lists": {"root_key": str(tmp_path / "nope.pem"), "list_id": "L1"},
        }
    )
    with pytest.raises(DeviceSetupError, match="re-provision"):
        build(config, camera_factory=lambda: SyntheticCamera([]), signals=Signals(FakeIndicator(), None))
