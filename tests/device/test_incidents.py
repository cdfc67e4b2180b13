"""Filing incidents into the real store: checked category, note and photos, position and grid cell, time provenance;
a full disk refuses the new incident and keeps every stored one."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlite_utils import Database

from device.clock import ClockTrust, FakeClock
from device.gps.base import Fix
from device.grid import GridCell
from device.incidents import (
    FiledIncident,
    IncidentDesk,
    IncidentLimits,
    IncidentRefusedError,
    check_photo,
    encode_frame,
    jpeg_dimensions,
)
from device.store import DeviceStore
from protocol.topics import Stream

NOW = 1_800_000_000.0
CELLS = [
    GridCell("PD-07-12", ((31.22, 121.47), (31.22, 121.48), (31.23, 121.48), (31.23, 121.47))),
    GridCell("PD-07-13", ((31.23, 121.47), (31.23, 121.48), (31.24, 121.48), (31.24, 121.47))),
]
LIMITS = IncidentLimits(
    categories=("public_complaint", "sanitation", "other"),
    note_max_chars=200,
    photo_max_bytes=256 * 1024,
    photo_max_side=1024,
    photo_max_count=2,
)


class Ntp:
    def __init__(self, synced: bool = True) -> None:
        self.synced = synced

    def synchronized(self) -> bool:
        return self.synced


def jpeg(width: int = 320, height: int = 240, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 80])
    assert ok
    return bytes(data)


class Frames:
    def __init__(self, image: np.ndarray | None) -> None:
        self.image = image

    def latest_image(self) -> np.ndarray | None:
        return self.image


def desk(fix: Fix | None = None, *, ntp: bool = True, frames: Frames | None = None) -> tuple[IncidentDesk, DeviceStore]:
    clock = FakeClock(now=NOW)
    store = DeviceStore(Database(memory=True))
    store.start_boot()
    trust = ClockTrust(clock, store, Ntp(ntp))
    return (
        IncidentDesk(store=store, clock=trust, position=lambda: fix, cells=CELLS, limits=LIMITS, frames=frames),
        store,
    )


def test_an_incident_with_a_photo_and_a_position_lands_in_its_grid_cell() -> None:
    photo = jpeg()
    incidents, store = desk(Fix(31.225, 121.475, 4.5, 0.0, 1, 8))
    filed = incidents.file("public_complaint", "  noise at night from the building site  ", [photo])
    assert filed == FiledIncident(
        1, NOW, "ntp", "public_complaint", Fix(31.225, 121.475, 4.5, 0.0, 1, 8), "PD-07-12", 1
    )
    [(seq, record)] = store.incidents()
    assert seq == 1
    assert (record.category, record.note, record.grid_cell) == (
        "public_complaint",
        "noise at night from the building site",
        "PD-07-12",
    )
    assert (record.lat, record.lon, record.accuracy_m, record.time_source) == (31.225, 121.475, 4.5, "ntp")
    [ref] = record.photos
    assert store.image_bytes(ref.sha256) == photo
    assert store.backlog(Stream.INCIDENTS) == 1


def test_no_fix_is_filed_without_a_position_and_an_untrusted_clock_says_so() -> None:
    incidents, store = desk(None, ntp=False)
    filed = incidents.file("sanitation", "", [])
    assert (filed.position, filed.grid_cell, filed.time_source) == (None, "", "untrusted")
    [(_, record)] = store.incidents()
    assert (record.lat, record.lon, record.grid_cell, record.time_source) == (None, None, None, "untrusted")


def test_outside_every_cell_the_grid_cell_is_empty() -> None:
    incidents, _store = desk(Fix(40.0, 116.0, None, 0.0, 1, None))
    assert incidents.file("other", "x", []).grid_cell == ""


@pytest.mark.parametrize(
    ("category", "note", "photos", "reason"),
    [
        ("nonsense", "", [], "unknown_category"),
        ("other", "x" * 201, [], "note_too_long"),
        ("other", "", [jpeg(seed=1), jpeg(seed=2), jpeg(seed=3)], "too_many_photos"),
        ("other", "", [b"GIF89a not a jpeg"], "photo_not_jpeg"),
        ("other", "", [b""], "photo_empty"),
        ("other", "", [jpeg()[:200]], "photo_not_jpeg"),
        ("other", "", [jpeg(1200, 100)], "photo_too_large"),
        ("other", "", [b"\xff\xd8" + b"\x00" * (300 * 1024)], "photo_too_large"),
    ],
)
def test_refusals_have_a_reason_are_counted_and_store_nothing(
    category: str, note: str, photos: list[bytes], reason: str
) -> None:
    incidents, store = desk()
    with pytest.raises(IncidentRefusedError) as refused:
        incidents.file(category, note, photos)
    assert refused.value.reason == reason
    assert incidents.refused[reason] == 1
    assert store.incidents() == []


def test_a_header_claiming_huge_dimensions_is_refused_before_decoding() -> None:
    data = bytearray(jpeg(64, 64))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = (60000).to_bytes(2, "big") + (60000).to_bytes(2, "big")
    with pytest.raises(IncidentRefusedError, match="60000x60000"):
        check_photo(bytes(data), LIMITS)


def test_a_full_disk_refuses_the_new_incident_and_keeps_the_stored_ones() -> None:
    incidents, store = desk(Fix(31.235, 121.475, 3.0, 0.0, 1, 9))
    incidents.file("other", "first", [jpeg(seed=5)])
    pages = store.db.execute("PRAGMA page_count").fetchone()[0]
    store.db.execute(f"PRAGMA max_page_count = {pages}")  # SQLite's own "disk full" (SQLITE_FULL)
    with pytest.raises(IncidentRefusedError) as refused:
        incidents.file("other", "second", [jpeg(seed=6)])
    assert refused.value.reason == "storage_full"
    assert "NOT saved" in str(refused.value)
    assert incidents.last_problem.startswith("incidents:")
    [(seq, record)] = store.incidents()
    assert (seq, record.note, record.grid_cell) == (1, "first", "PD-07-13")
    store.db.execute(f"PRAGMA max_page_count = {pages * 100}")
    assert incidents.file("other", "third", []).seq == 2  # no sequence number was used by the failed write
    assert incidents.last_problem == ""


def test_take_photo_from_the_newest_frame() -> None:
    frame = np.full((2000, 1000), 128, np.uint8)
    incidents, _store = desk(frames=Frames(frame))
    photo = incidents.capture()
    assert jpeg_dimensions(photo) == (512, 1024)  # scaled to the side limit
    assert check_photo(photo, LIMITS) == photo
    incidents.frames = Frames(None)
    with pytest.raises(IncidentRefusedError, match="camera"):
        incidents.capture()


def test_encode_frame_keeps_small_frames() -> None:
    assert jpeg_dimensions(encode_frame(np.zeros((240, 320, 3), np.uint8), 1024)) == (320, 240)


@given(st.binary(max_size=2048))
def test_fuzz_photo_bytes(data: bytes) -> None:
    reasons: list[str] = []
    try:
        width, height = jpeg_dimensions(data)
    except IncidentRefusedError as exc:
        reasons.append(exc.reason)
    else:
        assert width > 0
        assert height > 0
    try:
        check_photo(data, LIMITS)
    except IncidentRefusedError as exc:
        reasons.append(exc.reason)
    assert set(reasons) <= {"photo_not_jpeg", "photo_empty", "photo_too_large"}


@given(st.integers(0, 400), st.binary(min_size=1, max_size=64))
def test_fuzz_damaged_jpegs(position: int, damage: bytes) -> None:
    original = jpeg(48, 32)
    data = original[:position] + damage + original[position + len(damage) :]
    reason = ""
    try:
        assert check_photo(data, LIMITS) == data
    except IncidentRefusedError as exc:
        reason = exc.reason
    assert reason in {"", "photo_not_jpeg", "photo_too_large"}
