"""A handheld's page wired with real parts: the real store (file, WAL, two connections), the incident desk, the GPS
reader over the fake receiver, a frame tap over a fake camera, the last-scan board; served by uvicorn on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest

from device.camera.fake import FakeCamera
from device.clock import ClockTrust, FakeClock
from device.gps.fake import FakeGps
from device.gps.tracker import PositionTracker
from device.grid import GridCell
from device.handheld.backlog import BacklogView
from device.handheld.frames import FrameTap
from device.handheld.scans import LastScan
from device.handheld.web import HandheldServer, HandheldServices
from device.incidents import IncidentDesk, IncidentLimits
from device.store import DeviceStore, open_database

NOW = 1_800_000_000.0
CELLS = [
    GridCell("PD-07-12", ((31.22, 121.47), (31.22, 121.48), (31.23, 121.48), (31.23, 121.47))),
    GridCell("PD-07-13", ((31.23, 121.47), (31.23, 121.48), (31.24, 121.48), (31.24, 121.47))),
]
IN_PD_07_12 = (31.2251, 121.4752, 4.5)
LIMITS = IncidentLimits(
    categories=("public_complaint", "sanitation", "facility_damage", "other"),
    note_max_chars=500,
    photo_max_bytes=512 * 1024,
    photo_max_side=2048,
    photo_max_count=3,
)


class Ntp:
    def synchronized(self) -> bool:
        return True


def jpeg(width: int = 320, height: int = 240, seed: int = 0) -> bytes:
    """A real JPEG of noise (so that every seed hashes differently)."""
    image = np.random.default_rng(seed).integers(0, 255, (height, width, 3), dtype=np.uint8)
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 80])
    assert ok
    return bytes(data)


def scene() -> np.ndarray:
    """What the handheld's camera sees: a grey street with a bright rectangle."""
    image = np.full((480, 640, 3), 90, np.uint8)
    cv2.rectangle(image, (200, 120), (440, 360), (40, 180, 240), -1)
    return image


@dataclass
class Handheld:
    services: HandheldServices
    store: DeviceStore
    """A connection of the test's own, to check what was committed."""
    gps: FakeGps
    tracker: PositionTracker
    tap: FrameTap
    clock: FakeClock
    data_dir: Path


@pytest.fixture
def handheld(tmp_path: Path) -> Iterator[Handheld]:
    clock = FakeClock(now=NOW)
    database = tmp_path / "device.db"
    main_store = DeviceStore(open_database(database))
    main_store.start_boot()
    desk_store = DeviceStore(open_database(database))
    view_store = DeviceStore(open_database(database))
    gps = FakeGps(IN_PD_07_12, clock=clock.monotonic)
    tracker = PositionTracker(gps, clock=clock.monotonic)
    tracker.poll()
    tap = FrameTap(FakeCamera([scene()] * 1000, clock=clock.monotonic), clock=clock.monotonic)
    tap.read()
    desk = IncidentDesk(
        store=desk_store,
        clock=ClockTrust(clock, desk_store, Ntp()),
        position=tracker.latest,
        cells=CELLS,
        limits=LIMITS,
        frames=tap,
    )
    services = HandheldServices(
        desk=desk,
        scans=LastScan(clock.time),
        gps=tracker,
        backlog=BacklogView(view_store),
        labels={"public_complaint": "Public complaint", "facility_damage": "Damaged facility"},
    )
    try:
        yield Handheld(services, main_store, gps, tracker, tap, clock, tmp_path)
    finally:
        for store in (main_store, desk_store, view_store):
            store.db.close()


@pytest.fixture
def server(handheld: Handheld) -> Iterator[HandheldServer]:
    running = HandheldServer(handheld.services, 0)
    running.start()
    try:
        yield running
    finally:
        running.stop()
