"""A synthetic monitoring scene: people walking one by one across a still checkpoint, as a camera terminal sees it.

Each person is an articulated silhouette (head, torso, swinging arms and legs) in striped, textured clothes, crossing
the frame left to right or right to left after a quiet gap. Over the whole frame lie sensor noise and a slight
illumination flicker (a slow sine plus a random per-frame gain), so a detector that compares raw frames would see
change in every one of them. Frame ``i`` is a pure function of the seed and ``i``: a seed reproduces the feed, and
:meth:`SceneCamera.person_box` gives the ground truth for tests.

Reading follows :class:`device.camera.synthetic.SyntheticCamera`: every ``read()`` gives the next frame, or with
``realtime`` the frame due on the injected clock at ``fps`` (sleeping with the injected ``sleep`` until it is due,
skipping the frames a slow reader missed).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from device.camera.base import CameraError, Frame
from device.camera.pacing import due
from device.vision.images import Image, u8
from device.vision.render import SKIN_BGR, make_scene

SCENE_NOISE = 3.0
"""Sensor noise of every frame, in grey levels."""
FLICKER = 0.1
"""Amplitude of the illumination flicker and exposure hunting, as a fraction of brightness."""
FLICKER_PERIOD_FRAMES = 7.3
"""Period of the slow part of the flicker (mains flicker aliased by the frame rate)."""
STRIDE_FRAMES = 14.0
"""Frames per full walking cycle (two steps)."""
GROUND = 0.94
"""Where the feet are, as a fraction of the frame height."""

Box = tuple[int, int, int, int]


@dataclass(frozen=True, slots=True)
class Walker:
    """One person's looks and path."""

    direction: int
    """+1 left to right, -1 right to left."""
    height_px: float
    shirt: tuple[int, int, int]
    trousers: tuple[int, int, int]
    stripe_px: int
    ground_y: float


class SceneCamera:
    """A checkpoint with people walking through; see the module docstring."""

    def __init__(
        self,
        *,
        width: int = 640,
        height: int = 480,
        color: bool = True,
        seed: int = 0,
        walk_frames: int = 45,
        gap_frames: int = 30,
        walkers: int | None = None,
        person_height: float = 0.6,
        noise: float = SCENE_NOISE,
        flicker: float = FLICKER,
        clock: Callable[[], float] = time.monotonic,
        realtime: bool = False,
        fps: float = 15.0,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        """A feed of ``walkers`` people (None: endless), each ``gap_frames`` quiet frames then ``walk_frames``."""
        if width < 32 or height < 32 or fps <= 0:
            raise ValueError("frames must be at least 32x32 and fps positive")
        if walk_frames < 2 or gap_frames < 0 or (walkers is not None and walkers < 0):
            raise ValueError("walk_frames must be at least 2; gap_frames and walkers not negative")
        if not 0.05 <= person_height <= 1.0 or noise < 0 or not 0 <= flicker < 0.5:
            raise ValueError("person_height must be 0.05..1, noise >= 0 and flicker 0..0.5")
        self.width, self.height, self.color, self.seed = width, height, color, seed
        self.walk_frames, self.gap_frames, self.walkers = walk_frames, gap_frames, walkers
        self.person_height, self.noise, self.flicker = person_height, noise, flicker
        self.realtime, self.fps = realtime, fps
        self._clock, self._sleep = clock, sleep
        self._background = make_scene(np.random.default_rng([seed, 0]), width, height, color=color)
        self._next = 0
        self._started: float | None = None
        self.dropped = 0
        self.closed = False

    @property
    def period(self) -> int:
        """Frames from one person's gap to the next one's."""
        return self.gap_frames + self.walk_frames

    @property
    def length(self) -> int | None:
        """Frames in the feed; None when it is endless."""
        return None if self.walkers is None else self.walkers * self.period

    def _walker(self, number: int) -> Walker:
        rng = np.random.default_rng([self.seed, 3, number])
        shirt = tuple(int(v) for v in rng.integers(30, 230, 3))
        trousers = tuple(int(v) for v in rng.integers(20, 120, 3))
        return Walker(
            direction=1 if number % 2 == 0 else -1,
            height_px=self.height * self.person_height * float(rng.uniform(0.9, 1.05)),
            shirt=(shirt[0], shirt[1], shirt[2]),
            trousers=(trousers[0], trousers[1], trousers[2]),
            stripe_px=int(rng.integers(4, 10)),
            ground_y=self.height * float(rng.uniform(GROUND - 0.03, GROUND)),
        )

    def _placement(self, index: int) -> tuple[Walker, float, int] | None:
        """The walker in view at frame ``index``, its centre x and its frames into the walk; None when empty."""
        length = self.length
        if index < 0 or (length is not None and index >= length):
            return None
        number, position = divmod(index, self.period)
        offset = position - self.gap_frames
        if offset < 0:
            return None
        walker = self._walker(number)
        half_width = walker.height_px * 0.2
        progress = offset / (self.walk_frames - 1)
        if walker.direction < 0:
            progress = 1.0 - progress
        x = -half_width + progress * (self.width + 2 * half_width)
        return walker, x, offset

    def _limbs(self, walker: Walker, x: float, offset: int) -> dict[str, list[tuple[int, int]]]:
        h = walker.height_px
        feet = walker.ground_y
        hip, shoulder = (x, feet - 0.48 * h), (x, feet - 0.8 * h)
        swing = math.sin(2 * math.pi * offset / STRIDE_FRAMES)
        leg, arm = 0.5 * h, 0.36 * h
        limbs: dict[str, list[tuple[int, int]]] = {"legs": [], "arms": []}
        for side in (1, -1):
            angle = 0.45 * swing * side
            limbs["legs"].append((round(hip[0] + leg * math.sin(angle)), round(hip[1] + leg * math.cos(angle))))
            limbs["arms"].append(
                (round(shoulder[0] - arm * math.sin(angle)), round(shoulder[1] + arm * math.cos(angle)))
            )
        return limbs

    def person_box(self, index: int) -> Box | None:
        """Where the person of frame ``index`` is (x, y, width, height, clipped to the frame); None when empty."""
        placement = self._placement(index)
        if placement is None:
            return None
        walker, x, _ = placement
        h = walker.height_px
        x0, x1 = max(0, math.floor(x - 0.32 * h)), min(self.width, math.ceil(x + 0.32 * h))
        y0, y1 = max(0, math.floor(walker.ground_y - 1.02 * h)), min(self.height, math.ceil(walker.ground_y + 0.05 * h))
        if x1 <= x0 or y1 <= y0:
            return None
        return x0, y0, x1 - x0, y1 - y0

    def _draw_person(self, frame: npt.NDArray[np.float32], index: int) -> None:
        placement = self._placement(index)
        box = self.person_box(index)
        if placement is None or box is None:
            return
        walker, x, offset = placement
        h = walker.height_px
        x0, y0, bw, bh = box
        limbs = self._limbs(walker, x, offset)
        shift = (-x0, -y0)
        mask = np.zeros((bh, bw), dtype=np.uint8)  # 1 trousers, 2 shirt, 3 skin (head, arms)
        hip = (round(x) + shift[0], round(walker.ground_y - 0.48 * h) + shift[1])
        shoulder = (round(x) + shift[0], round(walker.ground_y - 0.8 * h) + shift[1])
        limb_px = max(2, round(0.07 * h))
        for foot in limbs["legs"]:
            cv2.line(mask, hip, (foot[0] + shift[0], foot[1] + shift[1]), 1, limb_px)
        torso_center = (round(x) + shift[0], round(walker.ground_y - 0.63 * h) + shift[1])
        cv2.ellipse(mask, torso_center, (max(2, round(0.12 * h)), max(2, round(0.19 * h))), 0, 0, 360, 2, -1)
        for hand in limbs["arms"]:
            cv2.line(mask, shoulder, (hand[0] + shift[0], hand[1] + shift[1]), 3, max(2, round(0.05 * h)))
        head = (round(x) + shift[0], round(walker.ground_y - 0.9 * h) + shift[1])
        cv2.circle(mask, head, max(2, round(0.075 * h)), 3, -1)
        rng = np.random.default_rng([self.seed, 4, index])
        fabric = rng.normal(0, 10, (bh, bw)).astype(np.float32)
        rows = np.arange(bh, dtype=np.float32)[:, None] - float(shoulder[1])
        stripes = np.where((rows // walker.stripe_px) % 2 == 0, 25.0, -25.0).astype(np.float32)
        parts = (
            (1, walker.trousers, fabric),
            (2, walker.shirt, fabric + stripes),
            (3, SKIN_BGR, fabric * 0.3),
        )
        roi = frame[y0 : y0 + bh, x0 : x0 + bw]
        for label, bgr, texture in parts:
            where = mask == label
            if not where.any():
                continue
            if self.color:
                roi[where] = np.asarray(bgr, dtype=np.float32) + texture[where][:, None]
            else:
                grey = 0.114 * bgr[0] + 0.587 * bgr[1] + 0.299 * bgr[2]
                roi[where] = grey + texture[where]

    def render(self, index: int) -> Image:
        """Frame ``index`` of the feed (pure: the same index gives the same pixels)."""
        frame = self._background.astype(np.float32)
        self._draw_person(frame, index)
        rng = np.random.default_rng([self.seed, 1, index])
        gain = 1.0 + self.flicker * (
            0.75 * math.sin(2 * math.pi * index / FLICKER_PERIOD_FRAMES) + 0.25 * float(rng.uniform(-1, 1))
        )
        frame *= gain
        if self.noise > 0:
            frame += rng.standard_normal(frame.shape, dtype=np.float32) * self.noise
        return u8(np.clip(frame, 0, 255))

    def read(self) -> Frame | None:
        """The next frame, or None (not yet due in realtime mode without a sleep, or the feed has ended)."""
        if self.closed:
            raise CameraError("the scene camera is closed")
        if self._ended():
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
            if self._ended():
                return None
        index = self._next
        self._next += 1
        return Frame(self.render(index), self._clock(), index)

    def _ended(self) -> bool:
        length = self.length
        return length is not None and self._next >= length

    @property
    def finished(self) -> bool:
        """Whether a feed with a number of walkers has shown its last frame."""
        return self._ended()

    def close(self) -> None:
        """Stop the feed."""
        self.closed = True
