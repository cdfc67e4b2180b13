"""The synthetic feed (and the rendering under it, and the fake camera): real passes, reproducible frames, the clock."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import zxingcpp
from cryptography.hazmat.primitives.asymmetric import ed25519

from device.camera.base import CameraError
from device.camera.fake import FakeCamera
from device.camera.synthetic import Presentation, SyntheticCamera, read_script, sized
from device.vision.decoder import Decoder
from device.vision.render import (
    MAX_SAFE_OCCLUSION,
    Distortion,
    make_card,
    make_scene,
    modules_from_image,
    qr_modules,
    render,
)
from district.passes import issue, qr_image
from protocol.gp1 import PassStatus

QR_ONLY = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)


def real_pass(n: int) -> str:
    key = ed25519.Ed25519PrivateKey.from_private_bytes(bytes([n + 40]) * 32)
    status = (PassStatus.GREEN, PassStatus.YELLOW, PassStatus.RED)[n % 3]
    return issue(key, iss="CN-SH-PD", status=status, iat=1_800_000_000, hid=bytes([n]) * 16).qr_text


class FakeClock:
    """Monotonic seconds moved by hand, or by the fake sleep."""

    def __init__(self) -> None:
        self.now = 50.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture(scope="module")
def passes() -> list[str]:
    return [real_pass(n) for n in range(3)]


def script(passes: list[str]) -> list[Presentation]:
    return [
        Presentation(passes[0], frames=4, distortion=Distortion(module_px=4, look="phone"), gap=3),
        Presentation(passes[1], frames=3, distortion=Distortion(module_px=3, angle_deg=25, tilt_deg=20), gap=2),
        Presentation(passes[2], frames=2, distortion=Distortion(module_px=5, glare=0.6, blur_sigma=0.8), gap=1),
    ]


def test_a_seed_reproduces_the_same_frames(passes: list[str]) -> None:
    first = SyntheticCamera(script(passes), seed=5)
    again = SyntheticCamera(script(passes), seed=5)
    other = SyntheticCamera(script(passes), seed=6)
    for index in (0, 3, 5, 9):
        assert np.array_equal(first.render(index), again.render(index))
        assert not np.array_equal(first.render(index), other.render(index))
    frame = first.read()
    assert frame is not None
    assert np.array_equal(frame.image, again.render(0))


def test_the_script_is_played_in_order_with_empty_frames_between_people(passes: list[str]) -> None:
    camera = SyntheticCamera(script(passes), width=1280, height=720, trailing_gap=2)
    assert camera.length == 3 + 4 + 2 + 3 + 1 + 2 + 2
    decoder = Decoder()
    seen: list[tuple[int, str | None, tuple[str, ...]]] = []
    while (frame := camera.read()) is not None:
        assert frame.image.shape == (720, 1280)
        seen.append((frame.index, camera.truth(frame.index), decoder.decode(frame.image).texts))
    assert [index for index, _, _ in seen] == list(range(camera.length))
    for index, truth, texts in seen:
        assert texts == ((truth,) if truth else ()), index
    assert [truth for _, truth, _ in seen].count(passes[0]) == 4
    assert camera.read() is None


@pytest.mark.parametrize(
    ("name", "shape"), [("vga", (480, 640, 3)), ("720p", (720, 1280, 3)), ("320x240", (240, 320, 3))]
)
def test_frame_sizes_and_colour(passes: list[str], name: str, shape: tuple[int, int, int]) -> None:
    width, height = sized(name)
    camera = SyntheticCamera(script(passes)[:1], width=width, height=height, color=True)
    frame = camera.read()
    assert frame is not None
    assert frame.image.shape == shape
    assert frame.image.dtype == np.uint8
    with pytest.raises(ValueError, match="frame size"):
        sized("big")


def test_pre_rendered_codes_are_accepted(passes: list[str]) -> None:
    picture = qr_image(passes[2], scale=6)
    assert np.array_equal(modules_from_image(picture), qr_modules(passes[2]))
    camera = SyntheticCamera([Presentation(picture, frames=1, gap=0, distortion=Distortion(module_px=3))])
    frame = camera.read()
    assert frame is not None
    assert camera.truth(0) is None
    assert Decoder().decode(frame.image).texts == (passes[2],)


def test_frames_are_stamped_by_the_injected_clock(passes: list[str]) -> None:
    clock = FakeClock()
    camera = SyntheticCamera(script(passes), clock=clock)
    first = camera.read()
    clock.now += 0.5
    second = camera.read()
    assert first is not None and second is not None
    assert (first.captured_at, second.captured_at) == (50.0, 50.5)
    assert clock.slept == []


def test_realtime_paces_with_the_injected_sleep(passes: list[str]) -> None:
    clock = FakeClock()
    camera = SyntheticCamera(script(passes), clock=clock, realtime=True, fps=10.0, sleep=clock.sleep)
    frames = [camera.read() for _ in range(3)]
    assert [f.index for f in frames if f is not None] == [0, 1, 2]
    assert clock.slept == pytest.approx([0.1, 0.1])
    assert [f.captured_at for f in frames if f is not None] == pytest.approx([50.0, 50.1, 50.2])


def test_realtime_without_sleep_returns_none_until_due_and_drops_late_frames(passes: list[str]) -> None:
    clock = FakeClock()
    camera = SyntheticCamera(script(passes), clock=clock, realtime=True, fps=10.0)
    assert (first := camera.read()) is not None
    assert first.index == 0
    assert camera.read() is None
    clock.now += 0.1
    assert (second := camera.read()) is not None
    assert second.index == 1
    clock.now += 0.45  # four frames were due while nobody read
    assert (late := camera.read()) is not None
    assert late.index == 5
    assert camera.dropped == 3
    clock.now += 10
    assert camera.read() is None  # the script is over


def test_loop_and_close(passes: list[str]) -> None:
    camera = SyntheticCamera(script(passes)[:1], loop=True)
    length = camera.length
    frames = [camera.read() for _ in range(length + 2)]
    assert all(f is not None for f in frames)
    assert camera.truth(length + 3) == camera.truth(3) == passes[0]
    camera.close()
    with pytest.raises(CameraError):
        camera.read()


def test_bad_scripts_are_refused(passes: list[str]) -> None:
    with pytest.raises(ValueError, match="negative"):
        SyntheticCamera([Presentation(passes[0], frames=-1)])
    with pytest.raises(ValueError, match="32x32"):
        SyntheticCamera([], width=8)


def test_the_rendered_quad_is_where_zxing_finds_the_code(passes: list[str]) -> None:
    rng = np.random.default_rng(2)
    scene = make_scene(rng, 1280, 720)
    rendered = render(scene, qr_modules(passes[0]), Distortion(module_px=4, angle_deg=30, tilt_deg=30), rng)
    assert rendered.quad is not None
    (found,) = zxingcpp.read_barcodes(rendered.image, formats=QR_ONLY)
    position = found.position
    corners = [position.top_left, position.top_right, position.bottom_right, position.bottom_left]
    for (x, y), corner in zip(rendered.quad, corners, strict=True):
        assert abs(x - corner.x) < 4
        assert abs(y - corner.y) < 4


def test_a_finger_is_capped_unless_asked(passes: list[str]) -> None:
    modules = qr_modules(passes[0])
    rng = np.random.default_rng(0)

    def covered(distortion: Distortion) -> float:
        card, (x, y, side) = make_card(modules, distortion, np.random.default_rng(0), scale=4, color=True)
        code = card[y : y + side, x : x + side]
        reddish = code[:, :, 2].astype(int) - code[:, :, 0] > 40
        skin = reddish.any(axis=1)  # rows the finger reaches
        return float(skin.mean())

    assert covered(Distortion(occlusion=0.2)) == pytest.approx(0.2, abs=0.05)
    assert covered(Distortion(occlusion=0.9)) <= MAX_SAFE_OCCLUSION + 0.02
    assert covered(Distortion(occlusion=0.9, unsafe_occlusion=True)) > 0.8
    frame = render(make_scene(rng, 640, 480), modules, Distortion(module_px=4, occlusion=0.9), rng).image
    assert Decoder().decode(frame).texts == (passes[0],)


def test_the_fake_camera_hands_out_given_frames() -> None:
    images = [np.zeros((4, 4), np.uint8), None, np.ones((4, 4), np.uint8)]
    ticks = iter([1.0, 2.0])
    camera = FakeCamera(images, clock=lambda: next(ticks))
    first = camera.read()
    assert first is not None
    assert (first.index, first.captured_at) == (0, 1.0)
    assert camera.read() is None
    second = camera.read()
    assert second is not None
    assert (second.index, second.captured_at, int(second.image[0, 0])) == (1, 2.0, 1)
    assert camera.read() is None
    camera.close()
    with pytest.raises(CameraError):
        camera.read()


def test_a_script_file_names_each_persons_look_and_every_code_reads(tmp_path: Path, passes: list[str]) -> None:
    path = tmp_path / "people.txt"
    path.write_text(f"paper\t{passes[0]}\nphone\t{passes[1]}\n{passes[2]}\n\n", encoding="utf-8")
    people = read_script(path, fps=10)
    assert [p.distortion.look for p in people] == ["paper", "phone", "phone"]
    assert [(p.frames, p.gap) for p in people] == [(20, 10)] * 3
    camera = SyntheticCamera(people, width=640, height=480, seed=3)
    decoder, read = Decoder(), set[str]()
    while (frame := camera.read()) is not None:
        read.update(decoder.decode(frame.image).texts)
    assert read == set(passes)


def test_an_empty_or_unreadable_script_says_so(tmp_path: Path) -> None:
    (tmp_path / "empty.txt").write_text("\n \n")
    with pytest.raises(CameraError, match="no QR text"):
        read_script(tmp_path / "empty.txt", fps=10)
    with pytest.raises(CameraError, match="cannot read"):
        read_script(tmp_path / "missing.txt", fps=10)
