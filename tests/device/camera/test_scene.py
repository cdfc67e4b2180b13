"""The walking-people feed: reproducible, people cross in turn, noise and flicker on every frame, the clock."""

from __future__ import annotations

import numpy as np
import pytest

from device.camera.base import CameraError
from device.camera.scene import SceneCamera


class Clock:
    def __init__(self) -> None:
        self.now = 10.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_a_seed_reproduces_the_feed_and_another_seed_does_not() -> None:
    a, b, c = (SceneCamera(width=160, height=120, seed=seed) for seed in (4, 4, 5))
    assert np.array_equal(a.render(40), b.render(40))
    assert not np.array_equal(a.render(40), c.render(40))
    assert a.person_box(40) == b.person_box(40)


def test_people_cross_one_after_another_in_alternating_directions() -> None:
    camera = SceneCamera(width=320, height=240, seed=1, walkers=2, walk_frames=20, gap_frames=10)
    assert camera.length == 60
    assert all(camera.person_box(i) is None for i in range(10))
    first = [box[0] for i in range(10, 30) if (box := camera.person_box(i)) is not None]
    second = [box[0] for i in range(40, 60) if (box := camera.person_box(i)) is not None]
    assert first == sorted(first) and first[-1] > first[0]  # left to right
    assert second == sorted(second, reverse=True) and second[0] > second[-1]  # right to left
    assert camera.person_box(60) is None and camera.person_box(-1) is None


def test_the_person_is_drawn_in_its_box_and_the_rest_only_flickers() -> None:
    camera = SceneCamera(width=320, height=240, seed=1, walkers=1, gap_frames=5, noise=0.0, flicker=0.0)
    empty, walking = camera.render(0).astype(np.int16), camera.render(25).astype(np.int16)
    box = camera.person_box(25)
    assert box is not None
    x, y, w, h = box
    changed = np.abs(walking - empty).max(axis=2) > 10
    assert changed[y : y + h, x : x + w].mean() > 0.15
    changed[y : y + h, x : x + w] = False
    assert not changed.any()


def test_noise_and_flicker_change_every_empty_frame() -> None:
    camera = SceneCamera(width=160, height=120, seed=3, walkers=1, gap_frames=10, color=False)
    means = [float(camera.render(i).mean()) for i in range(10)]
    assert camera.render(0).ndim == 2
    assert max(means) - min(means) > 5  # flicker moves the whole frame
    assert not np.array_equal(camera.render(0), camera.render(1))


def test_reads_follow_the_feed_then_end_and_closing_is_final() -> None:
    camera = SceneCamera(width=64, height=48, walkers=1, walk_frames=3, gap_frames=1)
    frames = [camera.read() for _ in range(5)]
    assert [f.index for f in frames if f is not None] == [0, 1, 2, 3]
    assert frames[4] is None and camera.finished
    camera.close()
    with pytest.raises(CameraError):
        camera.read()


def test_realtime_frames_are_due_on_the_clock() -> None:
    clock = Clock()
    camera = SceneCamera(width=64, height=48, fps=10, realtime=True, clock=clock, sleep=clock.sleep)
    first, second = camera.read(), camera.read()
    assert first is not None and second is not None and (first.index, second.index) == (0, 1)
    assert clock.slept == [pytest.approx(0.1)]
    clock.now += 1.0  # a slow reader: the frames in between are dropped
    third = camera.read()
    assert third is not None and third.index == 11 and camera.dropped == 9
    lazy = SceneCamera(width=64, height=48, fps=10, realtime=True, clock=clock)
    assert lazy.read() is not None and lazy.read() is None  # not due yet, and no sleep given


@pytest.mark.parametrize(
    "kwargs",
    [{"width": 16}, {"fps": 0}, {"walk_frames": 1}, {"gap_frames": -1}, {"walkers": -1}, {"person_height": 2.0},
     {"noise": -1.0}, {"flicker": 0.6}],
)  # fmt: skip
def test_impossible_feeds_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011
        SceneCamera(**kwargs)  # type: ignore[arg-type]
