"""OpenCV VideoCapture as a :class:`~device.camera.base.Camera`: a USB/V4L2 camera, a video file or a stream URL."""

from __future__ import annotations

import logging
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from device.camera.base import MAX_FAILURES, CameraError, Frame

log = logging.getLogger(__name__)

_URL = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)


def parse_source(text: str) -> int | str:
    """A configured source as VideoCapture wants it: ``"0"`` is device index 0, anything else a path or URL."""
    stripped = text.strip()
    return int(stripped) if stripped.isdigit() else stripped


def _hint(source: int | str, *, stopped: bool = False) -> str:
    """What an operator should check for this kind of source (``stopped``: it opened, then frames stopped)."""
    if isinstance(source, int) or str(source).startswith("/dev/video"):
        device = f"/dev/video{source}" if isinstance(source, int) else source
        return (
            f"check that the camera is plugged in, that {device} exists (v4l2-ctl --list-devices), that this user "
            "is in the 'video' group and that no other process is using it"
        )
    if _URL.match(str(source)):
        return "check the URL, the network path to the camera and that the stream is running"
    if not Path(str(source)).exists():
        return f"the file {source} does not exist"
    if stopped:
        return "the video file has ended (loop=True replays it) or is damaged from here on"
    return "check that the file is a complete video OpenCV can read (e.g. MJPG or H.264 in .avi or .mp4)"


class OpenCvCamera:
    """Frames from ``cv2.VideoCapture``, grey if asked, stamped with an injected monotonic clock."""

    def __init__(
        self,
        source: int | str,
        *,
        width: int | None = None,
        height: int | None = None,
        fps: float | None = None,
        gray: bool = False,
        loop: bool = False,
        max_failures: int = MAX_FAILURES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Open ``source`` (device index, ``/dev/videoN``, file or URL) and request the size and rate given.

        ``loop`` rewinds a video file at its end; ``max_failures`` consecutive failed reads raise CameraError.
        """
        self.source = source
        self.gray = gray
        self.loop = loop
        self.max_failures = max_failures
        self._clock = clock
        self._failures = 0
        self._index = 0
        is_device = isinstance(source, int) or str(source).startswith("/dev/video")
        backend = cv2.CAP_V4L2 if is_device and sys.platform.startswith("linux") else cv2.CAP_ANY
        self._capture = cv2.VideoCapture(source, backend)
        if not self._capture.isOpened():
            self._capture.release()
            raise CameraError(f"cannot open camera {source!r}: {_hint(source)}")
        if is_device:
            self._capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # the newest frame, not one queued seconds ago
        for prop, value in ((cv2.CAP_PROP_FRAME_WIDTH, width), (cv2.CAP_PROP_FRAME_HEIGHT, height),
                            (cv2.CAP_PROP_FPS, fps)):  # fmt: skip
            if value is not None and not self._capture.set(prop, float(value)):
                log.info("camera %r ignored the request %s=%s", source, prop, value)

    @property
    def size(self) -> tuple[int, int]:
        """The frame size the capture reports, (width, height)."""
        return (int(self._capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(self._capture.get(cv2.CAP_PROP_FRAME_HEIGHT)))

    def read(self) -> Frame | None:
        """The next frame; None when the capture had none this time (raises after ``max_failures`` in a row)."""
        ok, image = self._capture.read()
        rewound = (not ok or image is None) and self.loop and self._failures == 0
        if rewound and self._capture.set(cv2.CAP_PROP_POS_FRAMES, 0):
            ok, image = self._capture.read()
        if not ok or image is None:
            self._failures += 1
            if self._failures >= self.max_failures:
                raise CameraError(
                    f"camera {self.source!r} delivered no frame {self._failures} times in a row: "
                    f"{_hint(self.source, stopped=True)}"
                )
            return None
        self._failures = 0
        frame = Frame(self._convert(np.asarray(image, dtype=np.uint8)), self._clock(), self._index)
        self._index += 1
        return frame

    def _convert(self, image: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
        if self.gray and image.ndim == 3:
            return np.asarray(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), dtype=np.uint8)
        return np.ascontiguousarray(image)

    def close(self) -> None:
        """Release the capture."""
        self._capture.release()
