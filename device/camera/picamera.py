"""The Raspberry Pi camera through picamera2 (libcamera), imported only when such a camera is opened.

Grey frames come straight from the Y plane of a YUV420 capture (no colour conversion); colour frames are RGB888,
which picamera2 lays out in memory as B, G, R: what OpenCV and zxing-cpp expect.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from device.camera.base import MAX_FAILURES, CameraError, Frame

log = logging.getLogger(__name__)

INSTALL_HINT = "install the pi extra: pip install gridpass[pi] (on Raspberry Pi OS: apt install python3-picamera2)"


class PiCamera:
    """Frames from a Pi camera module, stamped with an injected monotonic clock."""

    def __init__(
        self,
        *,
        width: int = 1280,
        height: int = 720,
        fps: float | None = 15.0,
        gray: bool = True,
        mode: Literal["video", "still"] = "video",
        max_failures: int = MAX_FAILURES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Configure and start the camera; CameraError when picamera2 is missing or the camera cannot start."""
        try:
            from picamera2 import Picamera2  # noqa: PLC0415 - only a Pi has it; the module must import anywhere
        except ImportError as exc:
            raise CameraError(f"picamera2 is not installed: {INSTALL_HINT}") from exc
        self.width, self.height, self.gray = width, height, gray
        self.max_failures = max_failures
        self._clock = clock
        self._failures = 0
        self._index = 0
        main = {"size": (width, height), "format": "YUV420" if gray else "RGB888"}
        controls: dict[str, Any] = {"FrameRate": float(fps)} if fps else {}
        try:
            self._camera: Any = Picamera2()
            make = (
                self._camera.create_video_configuration if mode == "video" else self._camera.create_still_configuration
            )
            self._camera.configure(make(main=main, controls=controls))
            self._camera.start()
        except (RuntimeError, OSError, IndexError) as exc:
            raise CameraError(
                f"cannot start the Pi camera: {exc}; check the ribbon cable, that `rpicam-hello --list-cameras` "
                "lists it, and that no other process (another gridpass, rpicam-*) holds it"
            ) from exc

    def read(self) -> Frame | None:
        """The next frame (picamera2 waits for it); None on a failed capture, CameraError after too many."""
        try:
            array: npt.NDArray[np.uint8] = np.asarray(self._camera.capture_array("main"))
        except (RuntimeError, OSError, TimeoutError) as exc:
            self._failures += 1
            log.warning("Pi camera capture failed (%d in a row): %s", self._failures, exc)
            if self._failures >= self.max_failures:
                raise CameraError(
                    f"the Pi camera delivered no frame {self._failures} times in a row: check the ribbon cable "
                    "and the power supply (an undervolted Pi drops camera frames)"
                ) from exc
            return None
        self._failures = 0
        image = array[: self.height, : self.width] if self.gray else array[:, :, :3]
        frame = Frame(np.ascontiguousarray(image), self._clock(), self._index)
        self._index += 1
        return frame

    def close(self) -> None:
        """Stop and release the camera."""
        self._camera.stop()
        self._camera.close()
