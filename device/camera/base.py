"""What every frame source gives: :class:`Frame` objects from a :class:`Camera`, or a :class:`CameraError`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

MAX_FAILURES = 30
"""Consecutive frames a camera may fail to deliver before it is reported as stopped (two seconds at 15 fps)."""


class CameraError(Exception):
    """A camera that cannot be opened or has stopped delivering frames; the message says what to check."""


@dataclass(frozen=True, slots=True)
class Frame:
    """One captured image."""

    image: npt.NDArray[np.uint8]
    """Grey (H, W) or BGR (H, W, 3), uint8."""
    captured_at: float
    """Seconds on the monotonic clock the camera was given, when the frame was taken."""
    index: int
    """Position in the camera's sequence of frames, from 0 (frames a camera dropped leave gaps)."""


class Camera(Protocol):
    """A source of frames."""

    def read(self) -> Frame | None:
        """The next frame, or None when none is available right now."""

    def close(self) -> None:
        """Release the device; reading after this is an error."""
