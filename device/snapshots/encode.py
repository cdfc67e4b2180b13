"""A frame as a JPEG: shrunk to a configured width at most, encoded by OpenCV at a configured quality."""

from __future__ import annotations

from dataclasses import dataclass

import cv2

from device.vision.images import Image, u8

MIN_QUALITY = 10
MAX_QUALITY = 100


class EncodeError(Exception):
    """A frame OpenCV could not encode (wrong shape or type)."""


@dataclass(frozen=True, slots=True)
class Encoded:
    """One encoded snapshot."""

    jpeg: bytes
    width: int
    height: int

    @property
    def size(self) -> int:
        """Bytes of the JPEG."""
        return len(self.jpeg)


def shrink(image: Image, max_width: int) -> Image:
    """``image`` scaled down (aspect kept, area interpolation) to at most ``max_width`` pixels wide."""
    height, width = image.shape[:2]
    if width <= max_width:
        return image
    new_height = max(1, round(height * max_width / width))
    return u8(cv2.resize(image, (max_width, new_height), interpolation=cv2.INTER_AREA))


def encode_jpeg(image: Image, *, quality: int, max_width: int) -> Encoded:
    """``image`` (grey or BGR uint8) as a baseline JPEG of ``quality`` (10..100), at most ``max_width`` wide."""
    if not MIN_QUALITY <= quality <= MAX_QUALITY:
        raise EncodeError(f"JPEG quality must be {MIN_QUALITY}..{MAX_QUALITY}, not {quality}")
    if max_width < 1:
        raise EncodeError("max_width must be positive")
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] != 3) or image.size == 0:
        raise EncodeError(f"a frame must be grey (H, W) or BGR (H, W, 3), not shape {image.shape}")
    scaled = shrink(image, max_width)
    try:
        ok, buffer = cv2.imencode(".jpg", scaled, [cv2.IMWRITE_JPEG_QUALITY, quality])
    except cv2.error as exc:
        raise EncodeError(f"OpenCV could not encode the frame: {exc}") from exc
    if not ok:
        raise EncodeError("OpenCV could not encode the frame")
    return Encoded(buffer.tobytes(), int(scaled.shape[1]), int(scaled.shape[0]))
