"""A camera wrapper that remembers the newest frame the scan loop read, so "take photo" never opens the camera twice.

The scan loop owns the camera and reads it on its thread; :meth:`FrameTap.latest_image` hands the web page's threads
a copy of the newest frame (when it is recent), under a lock. The handheld's camera delivers colour (incident photos
are in colour); the loop gets the frame in grey, which is what the decoder reads.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import cv2
import numpy as np
import numpy.typing as npt

from device.camera.base import Camera, Frame

FRAME_FRESH_S = 2.0
"""A frame older than this is not a photo of what is in front of the worker now."""


class FrameTap:
    """Reads through to ``camera``; keeps the newest frame."""

    def __init__(self, camera: Camera, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.camera = camera
        self.clock = clock
        self._lock = threading.Lock()
        self._frame: Frame | None = None

    def read(self) -> Frame | None:
        """The camera's next frame (remembered as it came), in grey."""
        frame = self.camera.read()
        if frame is None:
            return None
        with self._lock:
            self._frame = frame
        if frame.image.ndim == 3:
            grey = np.asarray(cv2.cvtColor(frame.image, cv2.COLOR_BGR2GRAY), dtype=np.uint8)
            return Frame(grey, frame.captured_at, frame.index)
        return frame

    def close(self) -> None:
        """Close the camera."""
        self.camera.close()

    def latest_image(self) -> npt.NDArray[np.uint8] | None:
        """A copy of the newest frame's pixels, or None when there is none recent."""
        with self._lock:
            frame = self._frame
        if frame is None or self.clock() - frame.captured_at > FRAME_FRESH_S:
            return None
        return frame.image.copy()
