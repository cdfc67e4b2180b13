"""The OpenCV adapter on a real video file written by cv2.VideoWriter, and on devices and files that are not there."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from device.camera.base import CameraError
from device.camera.opencv import OpenCvCamera, parse_source
from device.vision.decoder import Decoder
from device.vision.render import Distortion, make_scene, qr_modules, render

FRAMES = 6
SIZE = (640, 480)


class Ticks:
    """A monotonic clock that moves a tenth of a second each time it is read."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        self.now += 0.1
        return self.now


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An MJPG .avi of a pass held up to the camera, frame i a little more to the right."""
    path = tmp_path_factory.mktemp("video") / "checkpoint.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 15.0, SIZE)
    assert writer.isOpened()
    rng = np.random.default_rng(0)
    scene = make_scene(rng, *SIZE, color=True)
    modules = qr_modules("GP1:VIDEO-FRAME-TEST")
    for i in range(FRAMES):
        distortion = Distortion(module_px=4, look="phone", center=(0.4 + 0.02 * i, 0.5))
        writer.write(render(scene, modules, distortion, rng).image)
    writer.release()
    return path


def test_reads_every_frame_of_a_video_file_in_grey(video: Path) -> None:
    clock = Ticks()
    camera = OpenCvCamera(str(video), gray=True, clock=clock)
    assert camera.size == SIZE
    frames = [camera.read() for _ in range(FRAMES)]
    camera.close()
    assert [f.index for f in frames if f is not None] == list(range(FRAMES))
    assert all(f is not None and f.image.shape == (480, 640) and f.image.dtype == np.uint8 for f in frames)
    times = [f.captured_at for f in frames if f is not None]
    assert times == sorted(times)
    assert times[0] == pytest.approx(100.1)


def test_colour_frames_hold_the_code(video: Path) -> None:
    camera = OpenCvCamera(video.as_posix(), width=640, height=480, fps=15)
    decoder = Decoder()
    texts = []
    while (frame := camera.read()) is not None:
        assert frame.image.shape == (480, 640, 3)
        texts.append(decoder.decode(frame.image).texts)
    camera.close()
    assert texts == [("GP1:VIDEO-FRAME-TEST",)] * FRAMES


def test_a_file_that_ends_is_reported_after_the_configured_failures(video: Path) -> None:
    camera = OpenCvCamera(str(video), max_failures=3)
    for _ in range(FRAMES):
        assert camera.read() is not None
    assert camera.read() is None
    assert camera.read() is None
    with pytest.raises(CameraError, match=r"no frame 3 times in a row: the video file has ended"):
        camera.read()
    camera.close()


def test_a_looping_file_starts_again(video: Path) -> None:
    camera = OpenCvCamera(str(video), loop=True, max_failures=2)
    indexes = [frame.index for frame in (camera.read() for _ in range(FRAMES * 2 + 1)) if frame is not None]
    camera.close()
    assert indexes == list(range(FRAMES * 2 + 1))


def test_a_missing_device_says_what_to_check() -> None:
    with pytest.raises(CameraError, match=r"cannot open camera 63: .*/dev/video63 exists.*'video' group"):
        OpenCvCamera(63)
    with pytest.raises(CameraError, match=r"/dev/video63 exists"):
        OpenCvCamera("/dev/video63")


def test_a_missing_or_broken_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(CameraError, match="does not exist"):
        OpenCvCamera(str(tmp_path / "nowhere.avi"))
    broken = tmp_path / "broken.avi"
    broken.write_bytes(b"RIFF not really a video")
    with pytest.raises(CameraError, match="a complete video OpenCV can read"):
        OpenCvCamera(str(broken))


def test_sources_from_the_config() -> None:
    assert parse_source("0") == 0
    assert parse_source(" 2 ") == 2
    assert parse_source("/dev/video1") == "/dev/video1"
    assert parse_source("rtsp://10.0.0.5/stream") == "rtsp://10.0.0.5/stream"
