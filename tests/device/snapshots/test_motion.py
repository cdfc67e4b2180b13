"""Motion on rendered frames: a walker is seen where it walks; sensor noise, flicker and masked areas are not."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from device.camera.scene import SceneCamera
from device.snapshots.motion import MotionDetector, MotionSettings, watched_area
from device.vision.images import Image, u8

WIDTH, HEIGHT = 320, 240


def feed(seed: int = 1, walkers: int = 2, **kwargs: float) -> SceneCamera:
    return SceneCamera(width=WIDTH, height=HEIGHT, seed=seed, walkers=walkers, **kwargs)  # type: ignore[arg-type]


def fully_in_view(camera: SceneCamera, index: int) -> bool:
    box = camera.person_box(index)
    if box is None:
        return False
    x, _, w, _ = box
    return x > 0 and x + w < camera.width


def overlaps(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def naive_motion(previous: Image, image: Image, settings: MotionSettings) -> bool:
    """Bare differencing of consecutive grey frames: no blur, no background, no brightness correction."""
    diff = cv2.absdiff(cv2.cvtColor(previous, cv2.COLOR_BGR2GRAY), cv2.cvtColor(image, cv2.COLOR_BGR2GRAY))
    _, changed = cv2.threshold(diff, settings.threshold, 255, cv2.THRESH_BINARY)
    return cv2.countNonZero(changed) / changed.size >= settings.min_area


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_walker_is_seen_where_it_walks_and_noise_and_flicker_are_not(seed: int) -> None:
    camera = feed(seed)
    assert camera.length is not None
    settings = MotionSettings(threshold=15)
    detector = MotionDetector(settings)
    in_view = seen = quiet = naive_false = 0
    previous: Image | None = None
    for index in range(camera.length):
        image = camera.render(index)
        result = detector.detect(image)
        box = camera.person_box(index)
        if fully_in_view(camera, index):
            in_view += 1
            if result.motion:
                seen += 1
                assert box is not None
                assert overlaps(result.boxes[0], box), (index, result.boxes, box)
        elif box is None and camera.person_box(index - 1) is None and previous is not None:
            quiet += 1
            assert not result.motion, (index, result.changed_fraction)
            naive_false += naive_motion(previous, image, settings)
        previous = image
    assert in_view > 40 and quiet > 20
    assert seen >= 0.95 * in_view
    assert naive_false > 0, "the scene should be hard enough to fool a naive detector"


def test_the_first_frame_warms_up() -> None:
    camera = feed()
    result = MotionDetector().detect(camera.render(0))
    assert result.warming_up and not result.motion and result.changed_fraction == 0.0


def test_a_masked_area_is_ignored() -> None:
    camera = feed(walkers=1)
    assert camera.length is not None
    left_half = (((0.0, 0.0), (0.5, 0.0), (0.5, 1.0), (0.0, 1.0)),)
    whole = (((0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)),)
    half, blind = MotionDetector(MotionSettings(mask=left_half)), MotionDetector(MotionSettings(mask=whole))
    left_hits = right_hits = 0
    for index in range(camera.length):
        image = camera.render(index)
        assert not blind.detect(image).motion
        result = half.detect(image)
        box = camera.person_box(index)
        if box is None or not result.motion:
            continue
        centre = box[0] + box[2] / 2
        if centre < 0.3 * WIDTH:
            left_hits += 1
        if centre > 0.7 * WIDTH:
            right_hits += 1
        assert all(x + w > 0.5 * WIDTH - 4 for x, _, w, _ in result.boxes)
    assert left_hits == 0 and right_hits > 5


def test_the_watched_area_excludes_the_polygons() -> None:
    area = watched_area(MotionSettings(mask=(((0.0, 0.0), (0.5, 0.0), (0.5, 1.0), (0.0, 1.0)),)), 100, 50)
    assert area.shape == (50, 100)
    assert area[:, :45].max() == 0 and area[:, 55:].min() == 255


def test_lights_switched_on_restart_the_background_instead_of_counting_as_motion() -> None:
    camera = feed()
    detector = MotionDetector()
    for index in range(5):
        detector.detect(camera.render(index))
    lamp = np.linspace(0, 200, WIDTH, dtype=np.float32)[None, :, None]  # a lamp on the right is switched on
    bright = u8(np.clip(camera.render(5).astype(np.float32) + lamp, 0, 255))
    result = detector.detect(bright)
    assert result.lighting_change and not result.motion
    assert not detector.detect(bright).motion  # the new light is the background now


def test_a_new_frame_size_restarts_the_background() -> None:
    detector = MotionDetector()
    detector.detect(feed().render(0))
    other = SceneCamera(width=160, height=120, seed=1, walkers=1)
    assert detector.detect(other.render(0)).warming_up


def test_grey_frames_work_and_other_shapes_are_refused() -> None:
    grey = SceneCamera(width=WIDTH, height=HEIGHT, seed=1, walkers=1, color=False)
    detector = MotionDetector()
    assert detector.detect(grey.render(0)).warming_up
    assert not detector.detect(grey.render(1)).motion
    with pytest.raises(ValueError, match="grey"):
        detector.detect(np.zeros((10, 10, 4), dtype=np.uint8))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"threshold": 0},
        {"min_area": 0.0},
        {"analysis_width": 8},
        {"blur_px": 4},
        {"learning_rate": 0.0},
        {"mask": (((0.0, 0.0), (1.0, 1.0)),)},
        {"mask": (((0.0, 0.0), (1.5, 0.0), (1.0, 1.0)),)},
    ],
)
def test_unusable_settings_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each setting has its own message
        MotionSettings(**kwargs)  # type: ignore[arg-type]
