"""Motion by frame differencing: a frame in, a :class:`MotionResult` out (pure: no capture, clock or I/O).

Each frame is made grey, shrunk to ``analysis_width`` pixels wide (area interpolation: it averages the sensor noise
away), blurred, and compared with a running background (an exponential average of past frames). Before the
comparison the background is shifted by the difference of the two mean brightnesses over the watched area, so a
lamp that flickers or a cloud that passes moves the whole frame up or down without counting as motion. The absolute
difference is thresholded, speckles are opened away, and the changed fraction of the watched area decides.

The mask is a list of polygons (points as fractions of the frame's width and height) where motion is ignored: a
road behind the gate, a screen, a tree. A change over most of the watched area at once (the lights went on) is a
lighting change, not motion: the background is reset to the new frame.

Cost: the work after the shrink is on a 320 x 180 image whatever the camera gives, so it fits every frame of a Pi
(see ``tests/bench/bench_motion.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np
import numpy.typing as npt

from device.vision.images import Image, u8

Point = tuple[float, float]
Polygon = Sequence[Point]
Box = tuple[int, int, int, int]
"""x, y, width, height in the pixels of the frame given."""

LIGHTING_CHANGE_FRACTION = 0.6
"""A change over this fraction of the watched area at once is a lighting change: the background restarts."""
_OPEN_KERNEL = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
_DILATE_KERNEL = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))


@dataclass(frozen=True, slots=True)
class MotionSettings:
    """How sensitive the detector is and what it watches."""

    threshold: int = 25
    """Grey levels a pixel must differ from the (brightness-corrected) background to count as changed."""
    min_area: float = 0.005
    """Fraction of the watched area that must change for the frame to count as motion."""
    analysis_width: int = 320
    """Frames are shrunk to this width before anything else."""
    blur_px: int = 5
    """Side of the Gaussian blur kernel at the analysis size (odd)."""
    learning_rate: float = 0.05
    """How fast the background follows the scene (fraction of each new frame mixed in)."""
    mask: tuple[tuple[Point, ...], ...] = ()
    """Polygons, points as (x, y) fractions of the frame, where motion is ignored."""

    def __post_init__(self) -> None:
        """Refuse settings the detector cannot work with."""
        if not 1 <= self.threshold <= 255:
            raise ValueError("threshold must be 1..255 grey levels")
        if not 0 < self.min_area <= 1:
            raise ValueError("min_area must be a fraction in (0, 1]")
        if self.analysis_width < 16:
            raise ValueError("analysis_width must be at least 16 pixels")
        if self.blur_px < 1 or self.blur_px % 2 == 0:
            raise ValueError("blur_px must be odd and positive")
        if not 0 < self.learning_rate <= 1:
            raise ValueError("learning_rate must be in (0, 1]")
        for polygon in self.mask:
            if len(polygon) < 3:
                raise ValueError("a mask polygon needs at least three points")
            if any(not (0 <= x <= 1 and 0 <= y <= 1) for x, y in polygon):
                raise ValueError("mask points are fractions of the frame, 0..1")


@dataclass(frozen=True, slots=True)
class MotionResult:
    """What one frame showed."""

    motion: bool
    changed_fraction: float
    """Fraction of the watched area that differed from the background."""
    boxes: tuple[Box, ...] = field(default=())
    """Bounding boxes of the changed regions, in the pixels of the frame given (largest first)."""
    warming_up: bool = False
    """True on the first frame of a background (after a start, a size change or a lighting change)."""
    lighting_change: bool = False
    """Most of the watched area changed at once: treated as light, not motion; the background restarted."""


def _grey(image: Image) -> Image:
    if image.ndim == 2:
        return image
    if image.ndim == 3 and image.shape[2] == 3:
        return u8(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY))
    raise ValueError(f"a frame must be grey (H, W) or BGR (H, W, 3), not shape {image.shape}")


def watched_area(settings: MotionSettings, width: int, height: int) -> npt.NDArray[np.uint8]:
    """255 where motion counts and 0 inside the mask polygons, at ``width`` x ``height``."""
    area = np.full((height, width), 255, dtype=np.uint8)
    for polygon in settings.mask:
        points = np.array([[round(x * (width - 1)), round(y * (height - 1))] for x, y in polygon], dtype=np.int32)
        cv2.fillPoly(area, [points], 0)
    return area


class MotionDetector:
    """Keeps the running background between frames; :meth:`detect` is the whole interface."""

    def __init__(self, settings: MotionSettings | None = None) -> None:
        """A detector with no background yet: its first frame is a warm-up."""
        self.settings = settings or MotionSettings()
        self._background: npt.NDArray[np.float32] | None = None
        self._watched: npt.NDArray[np.uint8] | None = None
        self._watched_pixels = 0
        self._frame_size: tuple[int, int] | None = None

    def reset(self) -> None:
        """Forget the background (the camera was reopened, or pointed elsewhere)."""
        self._background = None

    def _prepare(self, image: Image) -> Image:
        grey = _grey(image)
        height, width = grey.shape
        scale = min(1.0, self.settings.analysis_width / width)
        small_size = (max(1, round(width * scale)), max(1, round(height * scale)))
        if (width, height) != self._frame_size:
            self._frame_size = (width, height)
            self._background = None
            self._watched = watched_area(self.settings, *small_size)
            self._watched_pixels = int(np.count_nonzero(self._watched))
        small = grey if scale == 1.0 else u8(cv2.resize(grey, small_size, interpolation=cv2.INTER_AREA))
        blur = self.settings.blur_px
        return u8(cv2.GaussianBlur(small, (blur, blur), 0)) if blur > 1 else small

    def detect(self, image: Image) -> MotionResult:
        """Compare ``image`` (grey or BGR, any size) with the background, then let the background learn it."""
        small = self._prepare(image)
        watched = self._watched
        assert watched is not None  # set by _prepare  # noqa: S101 - narrows the type for mypy
        if self._background is None or self._watched_pixels == 0:
            self._background = small.astype(np.float32)
            return MotionResult(motion=False, changed_fraction=0.0, warming_up=True)
        background = self._background
        shift = float(cv2.mean(small, mask=watched)[0]) - float(cv2.mean(background, mask=watched)[0])
        expected = cv2.convertScaleAbs(background, alpha=1.0, beta=shift)
        diff = cv2.absdiff(small, expected)
        _, changed = cv2.threshold(diff, self.settings.threshold, 255, cv2.THRESH_BINARY)
        changed = u8(cv2.morphologyEx(cv2.bitwise_and(changed, watched), cv2.MORPH_OPEN, _OPEN_KERNEL))
        fraction = cv2.countNonZero(changed) / self._watched_pixels
        if fraction >= LIGHTING_CHANGE_FRACTION:
            self._background = small.astype(np.float32)
            return MotionResult(motion=False, changed_fraction=fraction, lighting_change=True)
        cv2.accumulateWeighted(small, background, self.settings.learning_rate)
        motion = fraction >= self.settings.min_area
        boxes = self._boxes(changed, image.shape[1] / small.shape[1]) if motion else ()
        return MotionResult(motion=motion, changed_fraction=fraction, boxes=boxes)

    @staticmethod
    def _boxes(changed: Image, scale: float) -> tuple[Box, ...]:
        grown = cv2.dilate(changed, _DILATE_KERNEL)
        contours, _ = cv2.findContours(grown, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        rects = sorted((cv2.boundingRect(c) for c in contours), key=lambda r: r[2] * r[3], reverse=True)
        return tuple(
            (round(x * scale), round(y * scale), max(1, round(w * scale)), max(1, round(h * scale)))
            for x, y, w, h in rects
        )
