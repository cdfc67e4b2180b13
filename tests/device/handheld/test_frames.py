"""The frame tap: the loop reads grey through it, "take photo" gets the newest frame in colour while it is fresh."""

from __future__ import annotations

import numpy as np

from device.camera.fake import FakeCamera
from device.clock import FakeClock
from device.handheld.frames import FRAME_FRESH_S, FrameTap


def test_colour_in_grey_to_the_loop_colour_for_photos() -> None:
    clock = FakeClock()
    colour = np.zeros((48, 64, 3), np.uint8)
    colour[:, :, 2] = 200  # red in BGR
    camera = FakeCamera([colour], clock=clock.monotonic)
    tap = FrameTap(camera, clock=clock.monotonic)
    assert tap.latest_image() is None
    frame = tap.read()
    assert frame is not None
    assert frame.image.shape == (48, 64)
    assert int(frame.image[0, 0]) == round(0.299 * 200)  # OpenCV's luma of pure red
    latest = tap.latest_image()
    assert latest is not None
    assert latest.shape == (48, 64, 3)
    assert int(latest[0, 0, 2]) == 200
    latest[0, 0, 2] = 0  # a copy: the page cannot change what the tap holds
    again = tap.latest_image()
    assert again is not None
    assert int(again[0, 0, 2]) == 200
    assert tap.read() is None  # no new frame: the last one is kept
    clock.advance(FRAME_FRESH_S + 0.1)
    assert tap.latest_image() is None
    tap.close()
    assert camera.closed


def test_grey_frames_pass_through() -> None:
    clock = FakeClock()
    grey = np.full((10, 10), 77, np.uint8)
    tap = FrameTap(FakeCamera([grey], clock=clock.monotonic), clock=clock.monotonic)
    frame = tap.read()
    assert frame is not None
    assert frame.image is grey
