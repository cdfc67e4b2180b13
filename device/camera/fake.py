"""A camera for tests: it returns the frames it was given, in order, then None."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

import numpy as np
import numpy.typing as npt

from device.camera.base import CameraError, Frame


class FakeCamera:
    """Hands out given images as frames, stamped by an injected clock; None once they are used up."""

    def __init__(
        self, images: Iterable[npt.NDArray[np.uint8] | None], *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        """A None among ``images`` is a moment with no frame available (read returns None, the index stays)."""
        self._images = iter(images)
        self._clock = clock
        self._index = 0
        self.closed = False

    def read(self) -> Frame | None:
        """The next given image as a frame, or None."""
        if self.closed:
            raise CameraError("the camera is closed")
        image = next(self._images, None)
        if image is None:
            return None
        frame = Frame(image, self._clock(), self._index)
        self._index += 1
        return frame

    def close(self) -> None:
        """Mark the camera closed."""
        self.closed = True
