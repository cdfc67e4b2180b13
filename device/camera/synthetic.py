"""A synthetic camera: a scripted queue of people showing real passes to a checkpoint camera.

The script is a sequence of :class:`Presentation` (a code, how many frames it is in view, how it looks), each after
a few empty frames. Frame ``i`` is a pure function of the seed, the script and ``i`` (its own ``numpy`` Generator),
so a seed reproduces the same frames, and frames can be skipped without changing the ones after. Rendering is in
:mod:`device.vision.render`; this class only keeps the timeline and the clock.

By default every ``read()`` returns the next frame, stamped with the injected clock. With ``realtime`` frames are due
every ``1/fps`` seconds of that clock: a read before the next one is due sleeps with the injected ``sleep`` (or
returns None without one), and a read that comes late skips the frames missed, as a real camera drops them.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import numpy.typing as npt

from device.camera.base import CameraError, Frame
from device.camera.pacing import due
from device.vision.images import Image
from device.vision.render import Distortion, camera_faults, make_scene, modules_from_image, qr_modules, render

SCENE_NOISE = 2.0
"""Sensor noise of every frame, in grey levels (a decent camera in daylight)."""
SIZES = {"vga": (640, 480), "720p": (1280, 720), "1080p": (1920, 1080)}


@dataclass(frozen=True, slots=True)
class Presentation:
    """One person showing one code."""

    code: str | npt.NDArray[np.uint8]
    """The QR text, or a pre-rendered upright QR image (any scale)."""
    frames: int = 20
    """Frames the code is in view."""
    distortion: Distortion = field(default_factory=Distortion)
    """How the code looks (size, angle, tilt, blur, glare, noise, finger, phone or paper)."""
    gap: int = 5
    """Empty frames before the code comes into view."""
    drift: float = 0.01
    """How far the hand wanders while holding the code up, as a fraction of the frame."""


@dataclass(frozen=True, slots=True)
class _Segment:
    start: int
    gap: int
    presentation: Presentation
    modules: Image


class SyntheticCamera:
    """Renders the script's frames on demand; see the module docstring for the clock."""

    def __init__(
        self,
        script: Sequence[Presentation],
        *,
        width: int = 640,
        height: int = 480,
        color: bool = False,
        seed: int = 0,
        trailing_gap: int = 0,
        loop: bool = False,
        clock: Callable[[], float] = time.monotonic,
        realtime: bool = False,
        fps: float = 15.0,
        sleep: Callable[[float], None] | None = None,
        scene_noise: float = SCENE_NOISE,
    ) -> None:
        """A feed of ``width`` x ``height`` frames, grey or BGR (``color``); ``trailing_gap`` empty frames end it."""
        if width < 32 or height < 32 or fps <= 0:
            raise ValueError("frames must be at least 32x32 and fps positive")
        self.width, self.height, self.color, self.seed = width, height, color, seed
        self.loop, self.realtime, self.fps = loop, realtime, fps
        self.scene_noise = scene_noise
        self._clock, self._sleep = clock, sleep
        self._segments: list[_Segment] = []
        start = 0
        for presentation in script:
            if presentation.frames < 0 or presentation.gap < 0:
                raise ValueError("frames and gap must not be negative")
            code = presentation.code
            modules = qr_modules(code) if isinstance(code, str) else modules_from_image(code)
            self._segments.append(_Segment(start, presentation.gap, presentation, modules))
            start += presentation.gap + presentation.frames
        self.length = start + trailing_gap
        self._scene = make_scene(np.random.default_rng([seed, 0]), width, height, color=color)
        self._next = 0
        self._started: float | None = None
        self.dropped = 0
        self.closed = False

    def truth(self, index: int) -> str | None:
        """The QR text in view at frame ``index`` (None for an empty frame or a pre-rendered code)."""
        found = self._segment_at(index)
        return None if found is None or not isinstance(found[0].presentation.code, str) else found[0].presentation.code

    def render(self, index: int) -> Image:
        """Frame ``index`` of the feed (pure: the same index gives the same pixels)."""
        rng = np.random.default_rng([self.seed, 1, index])
        found = self._segment_at(index)
        if found is None:
            return camera_faults(self._scene, rng, blur_sigma=0.0, noise_sigma=self.scene_noise)
        segment, offset = found
        distortion = self._moved(segment, offset)
        frame = render(self._scene, segment.modules, distortion, rng).image
        return camera_faults(frame, rng, blur_sigma=0.0, noise_sigma=self.scene_noise)

    def _segment_at(self, index: int) -> tuple[_Segment, int] | None:
        position = index % self.length if self.loop and self.length else index
        for segment in self._segments:
            offset = position - segment.start - segment.gap
            if 0 <= offset < segment.presentation.frames:
                return segment, offset
        return None

    def _moved(self, segment: _Segment, offset: int) -> Distortion:
        """The presentation's distortion with the hand's slow wander at ``offset`` frames into it."""
        base = segment.presentation.distortion
        phases = np.random.default_rng([self.seed, 2, segment.start]).uniform(0, 2 * math.pi, 3)
        drift = segment.presentation.drift
        cx, cy = base.center or (0.5, 0.5)
        t = offset / 10.0
        return replace(
            base,
            center=(cx + drift * math.sin(t + phases[0]), cy + drift * math.sin(0.8 * t + phases[1])),
            angle_deg=base.angle_deg + 100 * drift * math.sin(0.6 * t + phases[2]),
        )

    def read(self) -> Frame | None:
        """The next frame, or None (not yet due in realtime mode without a sleep, or the script has ended)."""
        if self.closed:
            raise CameraError("the synthetic camera is closed")
        if self._next >= self.length and not self.loop:
            return None
        if self.realtime:
            now = self._clock()
            if self._started is None:
                self._started = now
            pace = due(now, self._started, self._next, self.fps)
            if pace.wait_s > 0:
                if self._sleep is None:
                    return None
                self._sleep(pace.wait_s)
            self.dropped += pace.dropped
            self._next = pace.index
            if self._next >= self.length and not self.loop:
                return None
        index = self._next
        self._next += 1
        return Frame(self.render(index), self._clock(), index)

    @property
    def finished(self) -> bool:
        """Whether a feed that does not loop has shown its last frame."""
        return not self.loop and self._next >= self.length

    def close(self) -> None:
        """Stop the feed."""
        self.closed = True


def sized(name: str) -> tuple[int, int]:
    """A named frame size (``vga``, ``720p``, ``1080p``) or ``WxH``."""
    if name in SIZES:
        return SIZES[name]
    width, _, height = name.partition("x")
    if not (width.isdigit() and height.isdigit()):
        raise ValueError(f"frame size {name!r} is neither {sorted(SIZES)} nor WxH")
    return int(width), int(height)


SCRIPT_LOOKS = ("paper", "phone", "bare")
_LOOKS = {
    "paper": Distortion(look="paper", tilt_deg=12.0, angle_deg=4.0),
    "phone": Distortion(look="phone"),
    "bare": Distortion(look="bare"),
}
MAX_SCRIPT_LINES = 10_000


def read_script(path: Path, fps: int) -> list[Presentation]:
    """A synthetic feed's script: one person per line, the QR text alone or ``look<TAB>text`` (``phone`` shows it
    on a screen, ``paper`` as a printout, slightly tilted). Each person holds the code up two seconds after a one
    second gap. Raises :class:`CameraError` when the file cannot be read or holds no person."""
    try:
        lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except (OSError, UnicodeDecodeError) as exc:
        raise CameraError(f"cannot read the synthetic feed's script {path}: {exc}") from exc
    people: list[Presentation] = []
    for line in lines[:MAX_SCRIPT_LINES]:
        look, tab, text = line.partition("\t")
        if not tab or look not in SCRIPT_LOOKS:
            look, text = "phone", line.strip()
        people.append(Presentation(text, frames=fps * 2, distortion=_LOOKS[look], gap=fps))
    if not people:
        raise CameraError(f"the synthetic feed's script {path} holds no QR text")
    return people
