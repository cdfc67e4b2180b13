"""The snapshot service with the real store (in-memory SQLite): motion snapshots of a walker, a camera that
stalls and comes back, triggers from other threads, the budget under pressure, and a store that is full."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import cv2
import numpy as np
import pytest
from sqlite_utils import Database

from device.camera.base import Camera, CameraError
from device.camera.fake import FakeCamera
from device.camera.scene import SceneCamera
from device.clock import ClockTrust, FakeClock, TimeSource
from device.config import validate
from device.snapshots.motion import MotionSettings
from device.snapshots.policy import PolicySettings
from device.snapshots.service import (
    MAX_PENDING_TRIGGERS,
    REOPEN_MAX_S,
    REOPEN_MIN_S,
    Parts,
    SnapshotService,
    SnapshotSettings,
    from_section,
)
from device.store import DeviceStore, ImageBudget
from device.vision.images import Image
from protocol.topics import Stream

FRAME_S = 1 / 15


class Ntp:
    def __init__(self, synced: bool = True) -> None:
        self.synced = synced

    def synchronized(self) -> bool:
        return self.synced


class Rig:
    """A service on a real in-memory store, a fake clock and cameras handed out by a factory."""

    def __init__(self, parts: Parts, cameras: Iterator[Camera | CameraError] | None = None) -> None:
        self.clock = FakeClock()
        self.store = DeviceStore(Database(memory=True))
        self.time = ClockTrust(self.clock, self.store, Ntp())
        self.cameras = cameras or iter(())
        self.opened = 0
        self.service = SnapshotService(
            camera_factory=self.open, store=self.store, time=self.time, monotonic=self.clock.monotonic, parts=parts
        )

    def open(self) -> Camera:
        item = next(self.cameras, CameraError("no camera plugged in"))
        if isinstance(item, CameraError):
            raise item
        self.opened += 1
        return item

    def run_frames(self, count: int) -> list[int]:
        """Step ``count`` times, a frame interval apart; the sequence numbers of the snapshots stored."""
        stored = []
        for _ in range(count):
            result = self.service.step()
            if result is not None and result.seq is not None:
                stored.append(result.seq)
            self.clock.advance(FRAME_S)
        return stored

    def triggers_of(self) -> list[str]:
        return [record.trigger for _, record in self.store.snapshots()]

    def confirm_all(self) -> None:
        """What the hub's acks and image confirmations do."""
        held = self.store.snapshots()
        self.store.ack(Stream.SNAPSHOTS, max(seq for seq, _ in held))
        for _, record in held:
            self.store.set_image_progress(record.image.sha256, record.image.size, complete=True)


def current_camera(service: SnapshotService) -> Camera | None:
    return service.camera


def scene_frames(camera: SceneCamera, count: int | None = None) -> list[Image | None]:
    total = camera.length if count is None else count
    assert total is not None
    return [camera.render(i) for i in range(total)]


def parts(**policy: float) -> Parts:
    settings = SnapshotSettings(camera="gate-1", jpeg_quality=70, max_width=320, stall_s=3.0, prune_every_s=30.0)
    return Parts(settings, PolicySettings(**policy), MotionSettings())  # type: ignore[arg-type]


def test_a_walker_is_snapshotted_with_metadata_and_the_quiet_scene_is_not() -> None:
    scene = SceneCamera(width=320, height=240, seed=5, walkers=2, walk_frames=60, gap_frames=45)
    rig = Rig(parts(periodic_s=0, motion_min_interval_s=1.0))
    rig.service.camera = FakeCamera(scene_frames(scene), clock=rig.clock.monotonic)
    stored = rig.run_frames(scene.length or 0)
    assert 4 <= len(stored) <= 12  # a few per walker, at most one a second
    held = rig.store.snapshots()
    assert [seq for seq, _ in held] == stored
    for _, record in held:
        assert record.trigger == "motion" and record.camera == "gate-1" and record.time_source == "ntp"
        assert (record.image.width, record.image.height) == (320, 240)
        image = rig.store.image_bytes(record.image.sha256)
        assert image is not None and image.startswith(b"\xff\xd8")
        decoded = cv2.imdecode(np.frombuffer(image, dtype=np.uint8), cv2.IMREAD_COLOR)
        assert decoded is not None and decoded.shape == (240, 320, 3)
    status = rig.service.status()
    assert status["taken"]["motion"] == len(stored) and status["camera"]["state"] == "ok"
    assert status["last_snapshot"]["seq"] == stored[-1] and rig.service.problems() == []


def test_periodic_snapshots_come_on_time_and_carry_the_time_source() -> None:
    rig = Rig(parts(periodic_s=2.0, motion=False))
    empty = SceneCamera(width=160, height=120, seed=1, walkers=1, gap_frames=200)
    rig.service.camera = FakeCamera(scene_frames(empty, 150), clock=rig.clock.monotonic)
    rig.time.ntp = Ntp(synced=False)
    stored = rig.run_frames(150)  # ten seconds
    assert len(stored) == 4
    assert set(rig.triggers_of()) == {"periodic"}
    assert {record.time_source for _, record in rig.store.snapshots()} == {TimeSource.UNTRUSTED.value}


def test_triggers_from_other_threads_take_one_snapshot_each_within_their_interval() -> None:
    rig = Rig(parts(periodic_s=0, motion=False, trigger_min_interval_s=1.0))
    empty = SceneCamera(width=160, height=120, seed=1, walkers=1, gap_frames=400)
    rig.service.camera = FakeCamera(scene_frames(empty, 60), clock=rig.clock.monotonic)
    rig.run_frames(5)
    threads = [threading.Thread(target=rig.service.trigger, args=(f"command c{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert rig.service.status()["triggers"]["pending"] == 8
    rig.run_frames(5)
    assert rig.triggers_of() == ["command"]  # eight commands in one frame: one snapshot
    assert rig.service.trigger("command too-soon")
    rig.run_frames(15)  # within the trigger interval: dropped
    assert rig.triggers_of() == ["command"]
    assert rig.service.on_decision("deny", "revoked")
    assert rig.service.on_decision("invalid", "bad_signature")
    assert not rig.service.on_decision("pass", "ok")
    rig.run_frames(20)
    assert rig.triggers_of() == ["command", "decision"]
    assert not rig.service.trigger("reboot now")
    status = rig.service.status()["triggers"]
    assert status == {"pending": 0, "suppressed": 1, "refused": 1, "last": "decision bad_signature"}


def test_a_flood_of_triggers_is_bounded() -> None:
    rig = Rig(parts())
    accepted = sum(rig.service.trigger("command flood") for _ in range(MAX_PENDING_TRIGGERS + 10))
    assert accepted == MAX_PENDING_TRIGGERS
    assert rig.service.status()["triggers"]["refused"] == 10


def test_a_camera_that_stops_delivering_is_reported_and_reopened_with_backoff() -> None:
    walker = SceneCamera(width=160, height=120, seed=2, walkers=1, gap_frames=10)
    first = FakeCamera(scene_frames(walker, 20))  # then nothing: a stalled camera
    second = FakeCamera(scene_frames(walker, 40))
    cameras: list[Camera | CameraError] = [CameraError("unplugged"), CameraError("still unplugged"), second]
    rig = Rig(parts(periodic_s=0), iter(cameras))
    rig.service.camera = first
    rig.run_frames(20)
    assert rig.service.problems() == []
    for _ in range(int(3.0 / FRAME_S) + 2):  # no frame for longer than stall_s
        assert rig.service.step() is None
        rig.clock.advance(FRAME_S)
    assert first.closed and current_camera(rig.service) is None
    status = rig.service.status()["camera"]
    assert status["state"] == "stalled" and "no frame for 3 s" in status["error"]
    assert any(p.startswith("camera: no frame") for p in rig.service.problems())
    before = rig.clock.mono
    while current_camera(rig.service) is None:
        rig.service.step()
        rig.clock.advance(0.25)
        assert rig.clock.mono - before < 60, "the camera was never reopened"
    assert rig.opened == 1 and rig.service.status()["camera"]["reopen_failures"] == 2
    waited = rig.clock.mono - before
    assert waited >= REOPEN_MIN_S + 2 * REOPEN_MIN_S + 4 * REOPEN_MIN_S  # 1 s, then 2 s and 4 s after failures
    rig.run_frames(40)
    assert rig.service.problems() == [] and rig.service.status()["camera"]["state"] == "ok"
    assert rig.service.status()["camera"]["losses"] == 1
    assert rig.service.counters.frames == 60


def test_a_camera_error_is_reported_and_the_backoff_is_capped() -> None:
    rig = Rig(parts())
    failures = 0
    for _ in range(2000):
        rig.service.step()
        rig.clock.advance(1.0)
        failures = rig.service.counters.reopen_failures
    assert rig.service.camera_error is not None and "no camera plugged in" in rig.service.camera_error
    # with doubling capped at REOPEN_MAX_S, 2000 s hold about 2000 / 60 attempts after the first few
    assert 2000 / REOPEN_MAX_S <= failures <= 2000 / REOPEN_MAX_S + 8


def test_a_budget_under_pressure_keeps_everything_and_says_so_until_the_hub_confirms() -> None:
    settings = SnapshotSettings(budget=ImageBudget(max_bytes=2**30, max_count=3, max_age_s=86400), prune_every_s=1.0,
                                max_width=160)  # fmt: skip
    rig = Rig(Parts(settings, PolicySettings(periodic_s=0.5, motion=False), MotionSettings()))
    empty = SceneCamera(width=160, height=120, seed=1, walkers=1, gap_frames=400)
    rig.service.camera = FakeCamera(scene_frames(empty, 200), clock=rig.clock.monotonic)
    stored = rig.run_frames(100)
    assert len(stored) >= 10
    status = rig.service.status()["budget"]
    assert status["pressure"] and status["pressure_passes"] >= 3 and status["pruned"] == 0
    assert len(rig.store.snapshots()) == len(stored)  # nothing unconfirmed is ever removed
    assert any("retention budget" in p for p in rig.service.problems())
    rig.confirm_all()
    rig.run_frames(20)
    assert len(rig.store.snapshots()) <= 4
    status = rig.service.status()["budget"]
    assert not status["pressure"] and status["pruned"] >= len(stored) - 3
    assert not any("retention budget" in p for p in rig.service.problems())


def test_a_full_disk_is_counted_and_reported_and_loses_nothing_stored() -> None:
    rig = Rig(parts(periodic_s=0.5, motion=False))
    empty = SceneCamera(width=320, height=240, seed=1, walkers=1, gap_frames=400)
    rig.service.camera = FakeCamera(scene_frames(empty, 200), clock=rig.clock.monotonic)
    before = rig.run_frames(30)
    held = [(seq, record.image.sha256) for seq, record in rig.store.snapshots()]
    assert len(held) == len(before) >= 3
    pages = rig.store.db.execute("PRAGMA page_count").fetchone()[0]
    rig.store.db.execute(f"PRAGMA max_page_count = {pages}")  # the database may not grow: a full disk
    frames_before = rig.service.counters.frames
    assert rig.run_frames(60) == []
    assert rig.service.counters.frames == frames_before + 60  # it kept watching
    assert rig.service.status()["unstored"] >= 5
    assert any("could not be stored" in p for p in rig.service.problems())
    assert [(seq, record.image.sha256) for seq, record in rig.store.snapshots()] == held
    assert all(rig.store.image_bytes(sha) is not None for _, sha in held)
    rig.store.db.execute("PRAGMA max_page_count = 1000000")
    after = rig.run_frames(30)
    assert after and after[0] == held[-1][0] + 1  # no sequence number was used up by a refused write


def test_run_stops_on_the_event_and_closes_the_camera() -> None:
    rig = Rig(parts())
    camera = FakeCamera([])
    rig.service.camera = camera
    stop = threading.Event()
    stop.set()
    rig.service.run(stop)
    assert camera.closed and current_camera(rig.service) is None


def camera_config(**snapshots: object) -> dict[str, object]:
    return {
        "device": {"id": "cam-01", "profile": "camera", "site": "SH-PD-1"},
        "camera": {"kind": "scene", "seed": 3},
        "signal": {"indicator": "console"},
        "lists": {"root_key": "/tmp/root.pem", "list_id": "CN-SH-PD"},
        "snapshots": snapshots,
    }


def test_the_config_section_becomes_the_parts() -> None:
    config = validate(
        camera_config(
            camera="gate-2",
            periodic_s=0,
            jpeg_quality=60,
            max_width=640,
            motion={"threshold": 30, "min_area": 0.01, "min_interval_s": 3, "mask": [[[0, 0], [0.5, 0], [0.5, 1]]]},
            triggers={"on_decision": ["revoked", "invalid", "status_red"], "min_interval_s": 4},
            budget={"max_bytes": 2**21, "max_count": 50, "max_age_days": 2},
        )
    )
    assert config.snapshots is not None
    built = from_section(config.snapshots)
    assert built.settings.camera == "gate-2" and built.settings.jpeg_quality == 60 and built.settings.max_width == 640
    assert built.settings.budget == ImageBudget(2**21, 50, 2 * 86400)
    assert built.settings.on_decision == frozenset({"revoked", "invalid", "status_red"})
    assert built.policy == PolicySettings(periodic_s=0, motion=True, motion_min_interval_s=3, trigger_min_interval_s=4)
    assert built.motion.threshold == 30
    assert built.motion.mask == (((0.0, 0.0), (0.5, 0.0), (0.5, 1.0)),)
    defaults = validate(camera_config())
    assert defaults.snapshots is not None and defaults.snapshots.periodic_s == 300


@pytest.mark.parametrize(
    ("snapshots", "problem"),
    [
        ({"jpeg_quality": 5}, "jpeg_quality"),
        ({"motion": {"mask": [[[0, 0], [2, 0], [1, 1]]]}}, "mask"),
        ({"motion": {"mask": [[[0, 0], [1, 1]]]}}, "mask"),
        ({"triggers": {"on_decision": ["forged"]}}, "on_decision"),
        ({"budget": {"max_count": 0}}, "max_count"),
        ({"periodic": 5}, "periodic"),
    ],
)
def test_bad_snapshot_settings_are_refused_with_their_key(snapshots: dict[str, object], problem: str) -> None:
    from device.config import ConfigError

    with pytest.raises(ConfigError) as caught:
        validate(camera_config(**snapshots))
    assert any(problem in key for key, _ in caught.value.problems)


def test_the_camera_profile_needs_its_section() -> None:
    from device.config import ConfigError

    raw = camera_config()
    del raw["snapshots"]
    with pytest.raises(ConfigError, match=r"\[snapshots\]"):
        validate(raw)
