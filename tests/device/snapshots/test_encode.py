"""JPEG encoding: size grows with quality, width is capped with the aspect kept, bad frames are refused."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from device.camera.scene import SceneCamera
from device.snapshots.encode import EncodeError, encode_jpeg
from device.vision.images import Image, u8

FRAME = SceneCamera(width=640, height=480, seed=2, walkers=1, gap_frames=0).render(20)


def decoded(jpeg: bytes) -> Image:
    image = cv2.imdecode(np.frombuffer(jpeg, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    assert image is not None
    return u8(image)


def test_size_grows_with_quality_and_the_image_stays_faithful() -> None:
    sizes = []
    for quality in (50, 70, 85, 95):
        encoded = encode_jpeg(FRAME, quality=quality, max_width=1280)
        assert encoded.jpeg.startswith(b"\xff\xd8\xff") and encoded.size == len(encoded.jpeg)
        assert (encoded.width, encoded.height) == (640, 480)
        back = decoded(encoded.jpeg)
        assert back.shape == FRAME.shape
        assert float(np.mean(cv2.absdiff(back, FRAME))) < 6.0
        sizes.append(encoded.size)
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1] / 2


def test_a_wide_frame_is_scaled_down_with_its_aspect() -> None:
    encoded = encode_jpeg(FRAME, quality=80, max_width=320)
    assert (encoded.width, encoded.height) == (320, 240)
    assert decoded(encoded.jpeg).shape == (240, 320, 3)


def test_grey_frames_encode_grey() -> None:
    grey = u8(cv2.cvtColor(FRAME, cv2.COLOR_BGR2GRAY))
    encoded = encode_jpeg(grey, quality=80, max_width=1280)
    assert decoded(encoded.jpeg).shape == (480, 640)


@pytest.mark.parametrize(
    ("image", "quality", "max_width"),
    [
        (FRAME, 5, 640),
        (FRAME, 101, 640),
        (FRAME, 80, 0),
        (np.zeros((10, 10, 4), dtype=np.uint8), 80, 640),
        (np.zeros((0, 10), dtype=np.uint8), 80, 640),
        (np.zeros((2, 2, 2, 2), dtype=np.uint8), 80, 640),
    ],
)
def test_what_cannot_be_encoded_is_refused(image: Image, quality: int, max_width: int) -> None:
    with pytest.raises(EncodeError):
        encode_jpeg(image, quality=quality, max_width=max_width)
