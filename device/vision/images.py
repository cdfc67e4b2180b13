"""The image type vision code passes around, and a narrowing helper for what OpenCV returns."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Image = npt.NDArray[np.uint8]
"""A grey (H, W) or BGR (H, W, 3) uint8 array."""


def u8(array: object) -> Image:
    """``array`` as a uint8 numpy array: no copy when it already is one (OpenCV's results are typed loosely)."""
    return np.asarray(array, dtype=np.uint8)
