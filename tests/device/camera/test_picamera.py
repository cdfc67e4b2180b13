"""The Pi camera adapter: the module imports anywhere; without picamera2 it says how to install it."""

from __future__ import annotations

import sys

import pytest

from device.camera.base import CameraError
from device.camera.picamera import PiCamera


def test_without_picamera2_the_error_names_the_pi_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "picamera2", None)  # makes `import picamera2` raise ImportError
    with pytest.raises(CameraError, match=r"install the pi extra: pip install gridpass\[pi\]") as caught:
        PiCamera(width=1280, height=720)
    assert isinstance(caught.value.__cause__, ImportError)
