"""The camera profile through the composition root: the scene feed, the snapshot service in place of the scan
loop, hub commands reaching it, and its status in the terminal's status document."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

from device.app import DeviceApp, Signals, build, open_camera
from device.camera.scene import SceneCamera
from device.clock import FakeClock
from device.config import validate
from device.signal.fake import FakeIndicator
from device.snapshots.service import SnapshotService
from protocol.keys import Alg, generate_private_key, public_key_pem
from protocol.messages import Command, CommandMessage

ROOT = generate_private_key(Alg.EDDSA)


class Ntp:
    def synchronized(self) -> bool:
        return True


def camera_config(tmp_path: Path) -> dict[str, Any]:
    data_dir = tmp_path / "var"
    data_dir.mkdir()
    root_pem = data_dir / "root.pub.pem"
    root_pem.write_bytes(public_key_pem(ROOT.public_key()))
    return {
        "device": {"id": "cam-01", "profile": "camera", "site": "SH-PD-1", "data_dir": str(data_dir)},
        "camera": {"kind": "scene", "width": 320, "height": 240, "seed": 4},
        "signal": {"indicator": "console"},
        "lists": {"root_key": str(root_pem), "list_id": "CN-SH-PD"},
        "metrics": {"port": 0},
        "snapshots": {"camera": "gate-1", "periodic_s": 0, "max_width": 320, "motion": {"min_interval_s": 1}},
    }


def make_app(tmp_path: Path, clock: FakeClock) -> DeviceApp:
    config = validate(camera_config(tmp_path))
    feed = SceneCamera(width=320, height=240, seed=4, walkers=2, clock=clock.monotonic)
    return build(config, clock=clock, ntp=Ntp(), camera_factory=lambda: feed, signals=Signals(FakeIndicator(), None))


def test_a_camera_terminal_takes_motion_and_command_snapshots_and_reports_them(tmp_path: Path) -> None:
    clock = FakeClock()
    app = make_app(tmp_path, clock)
    assert isinstance(app.loop, SnapshotService)
    while app.loop.step() is not None:
        clock.advance(1 / 15)
    assert app.actions is not None
    result = app.actions.handle(CommandMessage("c-1", Command.SNAPSHOT_NOW, {}, None))
    assert result.ok
    assert app.loop.trigger("command c-2")
    app.loop.camera = SceneCamera(width=320, height=240, seed=4, walkers=1, gap_frames=5, clock=clock.monotonic)
    app.loop.step()
    triggers = [record.trigger for _, record in app.store.snapshots()]
    assert triggers.count("motion") >= 3 and triggers[-1] == "command"
    assert {record.camera for _, record in app.store.snapshots()} == {"gate-1"}
    status = app.status()
    snapshots: dict[str, Any] = status["snapshots"]  # type: ignore[assignment]
    assert snapshots["taken"]["command"] == 1 and snapshots["taken"]["motion"] == triggers.count("motion")
    assert status["streams"]["snapshots"]["backlog"] == len(triggers)  # type: ignore[index]
    app.housekeeping()
    written = json.loads((app.config.device.data_dir / "status.json").read_text())
    assert written["snapshots"]["last_snapshot"]["trigger"] == "command"
    app.store.db.close()


def test_a_stalled_camera_shows_in_the_terminal_status(tmp_path: Path) -> None:
    clock = FakeClock()
    app = make_app(tmp_path, clock)
    assert isinstance(app.loop, SnapshotService)
    app.loop.camera = SceneCamera(width=320, height=240, walkers=0, clock=clock.monotonic)  # delivers nothing
    for _ in range(12):
        app.loop.step()
        if app.loop.camera_error is not None:
            break
        clock.advance(1.0)
    problems: list[str] = app.status()["problems"]  # type: ignore[assignment]
    assert "camera: no frame for 10 s" in problems
    clock.advance(1.0)  # the back-off is over: the factory's camera delivers again
    for _ in range(3):
        app.loop.step()
        clock.advance(1 / 15)
    assert not any(p.startswith("camera: ") for p in app.status()["problems"])  # type: ignore[attr-defined]
    app.store.db.close()


def test_run_stops_cleanly(tmp_path: Path) -> None:
    app = make_app(tmp_path, FakeClock())
    stop = threading.Event()
    runner = threading.Thread(target=app.run, args=(stop,))
    status_file = app.config.device.data_dir / "status.json"
    runner.start()
    for _ in range(600):  # bounded: 30 s
        if status_file.exists():
            break
        time.sleep(0.05)
    stop.set()
    runner.join(timeout=30)
    assert not runner.is_alive()
    assert json.loads(status_file.read_text())["snapshots"]["camera"]["name"] == "gate-1"
    assert isinstance(app.loop, SnapshotService) and app.loop.camera is not None and app.loop.camera.closed  # type: ignore[attr-defined]


def test_the_scene_source_opens_from_config(tmp_path: Path) -> None:
    config = validate(camera_config(tmp_path))
    camera = open_camera(config.camera, FakeClock().monotonic, color=True)
    assert isinstance(camera, SceneCamera) and camera.seed == 4 and camera.realtime
    frame = camera.read()
    assert frame is not None and frame.image.shape == (240, 320, 3)
    camera.close()
