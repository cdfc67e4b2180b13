"""The handheld profile wired by the composition root: config rules, the scan loop's last decision on the board, the
GPS state in the status, and a GPS that cannot be opened said in the status while the terminal goes on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from device.app import DeviceApp, Signals, build
from device.camera.synthetic import Presentation, SyntheticCamera
from device.clock import FakeClock
from device.config import ConfigError, validate
from device.gps.fake import FakeGps
from device.handheld.frames import FRAME_FRESH_S
from device.signal.fake import FakeGate, FakeIndicator
from protocol.gp1 import PassStatus
from tests.device.test_app import NOW, Ntp, gp1, provision, revoke
from tests.services.mosquitto import free_port


def raw_config(data_dir: Path, root: Path, handheld: dict[str, Any] | None) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "device": {"id": "handheld-01", "profile": "handheld", "site": "SH-PD-1", "data_dir": str(data_dir)},
        "camera": {"kind": "synthetic", "width": 640, "height": 480},
        "signal": {"indicator": "console"},
        "lists": {"root_key": str(root), "list_id": "CN-SH-PD"},
        "metrics": {"port": 0},
    }
    if handheld is not None:
        raw["handheld"] = handheld
    return raw


CELL = {"code": "PD-07-12", "polygon": [[31.22, 121.47], [31.22, 121.48], [31.23, 121.48], [31.23, 121.47]]}


@pytest.mark.parametrize(
    ("handheld", "message"),
    [
        (None, "needs a \\[handheld\\] section"),
        ({"categories": ["sanitation"]}, "public_complaint"),
        ({"categories": ["public_complaint", "Bad Code"]}, "categories"),
        ({"grid_cells": [CELL, CELL]}, "listed twice"),
        ({"grid_cells": [{"code": "X", "polygon": [[0, 0], [1, 1]]}]}, "polygon"),
        ({"labels": {"nope": "Nope"}}, "labels"),
        ({"photo_max_bytes": 64 * 2**20}, "photo_max_bytes"),
    ],
)
def test_config_rules(tmp_path: Path, handheld: dict[str, Any] | None, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        validate(raw_config(tmp_path, tmp_path / "root.pem", handheld))


def make(tmp_path: Path, gps: dict[str, Any], fake: FakeGps | None) -> tuple[DeviceApp, FakeClock]:
    data_dir = tmp_path / "var"
    root = provision(data_dir)
    revoke(data_dir, bytes(16))  # a revocation list held: the lists are usable
    clock = FakeClock(now=float(NOW))
    config = validate(raw_config(data_dir, root, {"grid_cells": [CELL], "gps": gps, "web_port": free_port()}))
    script = [Presentation(gp1(PassStatus.GREEN), frames=10)]
    app = build(
        config, clock=clock, ntp=Ntp(), signals=Signals(FakeIndicator(), FakeGate()), gps=fake,
        camera_factory=lambda: SyntheticCamera(script, trailing_gap=3, clock=clock.monotonic),
    )  # fmt: skip
    app.lists.mark_current(clock.now)
    return app, clock


def close(app: DeviceApp) -> None:
    assert app.handheld is not None
    for store in app.handheld.stores:
        store.db.close()
    app.handheld.server.stop()
    app.store.db.close()


def test_the_scan_loop_feeds_the_board_and_the_tap(tmp_path: Path) -> None:
    app, clock = make(tmp_path, {"kind": "none"}, FakeGps((31.225, 121.475, 3.0)))
    handheld = app.handheld
    assert handheld is not None
    try:
        handheld.tracker.poll()
        while app.loop.step() is not None:
            clock.advance(1 / 15)
        view = handheld.services.scans.view()
        assert (view.version, view.colour, view.headline, view.reason, view.stored) == (1, "green", "PASS", "ok", True)
        photo = handheld.services.desk.capture()  # the frame the scan loop read last, through the tap
        assert photo.startswith(b"\xff\xd8")
        filed = handheld.services.desk.file("public_complaint", "", [photo])
        assert (filed.grid_cell, filed.photos) == ("PD-07-12", 1)
        clock.advance(FRAME_FRESH_S + 1)
        assert handheld.tap.latest_image() is None  # no longer a picture of what is in front of the worker
        status = app.status()
        assert status["handheld"]["gps"]["state"] == "fix"  # type: ignore[index]
        assert status["handheld"]["incidents"]["filed"] == 1  # type: ignore[index]
        assert status["streams"]["incidents"]["backlog"] == 1  # type: ignore[index]
    finally:
        close(app)


def test_a_gps_that_cannot_be_opened_is_a_problem_and_the_terminal_goes_on(tmp_path: Path) -> None:
    app, clock = make(tmp_path, {"kind": "nmea", "port": str(tmp_path / "no-such-tty")}, None)
    handheld = app.handheld
    assert handheld is not None
    try:
        while app.loop.step() is not None:
            clock.advance(1 / 15)
        status = app.status()
        assert status["handheld"]["gps"]["state"] == "error"  # type: ignore[index]
        problems = status["problems"]
        assert isinstance(problems, list)
        assert any(p.startswith("gps: cannot open the GPS") for p in problems)
        assert [e.event.reason for e in app.store.events()] == ["ok"]  # the scan path went on without its GPS
        assert handheld.services.desk.file("other", "no position", []).position is None
    finally:
        close(app)
