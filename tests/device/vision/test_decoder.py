"""The decoder on real passes rendered and distorted on purpose, on garbage, and against bare zxing-cpp."""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
import pytest
import zxingcpp
from cryptography.hazmat.primitives.asymmetric import ed25519
from hypothesis import given, settings
from hypothesis import strategies as st

from device.vision.decoder import Decoder, DecoderOptions, as_frame, decode_once
from device.vision.engines import STEPS, Crop, RawRead, Step
from device.vision.gate import Box, GateOptions, code_like_regions
from device.vision.images import Image, u8
from device.vision.render import Distortion, camera_faults, make_scene, qr_modules, render
from district.passes import issue, qr_image
from protocol.gp1 import PassStatus

QR_ONLY = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)


def pass_text(n: int = 0) -> str:
    """A real signed pass, the same on every run (Ed25519 with a fixed key, fixed ids)."""
    key = ed25519.Ed25519PrivateKey.from_private_bytes(bytes([n + 1]) * 32)
    return issue(
        key, iss="CN-ZJ-HZ", status=PassStatus.GREEN, iat=1_800_000_000, hid=bytes([n]) * 16, cti=bytes([n + 9]) * 16
    ).qr_text


def frame_with(text: str, distortion: Distortion, *, size: tuple[int, int] = (640, 480), seed: int = 0) -> Image:
    rng = np.random.default_rng(seed)
    return render(make_scene(rng, *size), qr_modules(text), distortion, rng).image


def empty_frame(size: tuple[int, int], seed: int, *, color: bool = False) -> Image:
    rng = np.random.default_rng(seed)
    return camera_faults(make_scene(rng, *size, color=color), rng, blur_sigma=0.0, noise_sigma=3.0)


def bare_zxing(frame: Image) -> list[str]:
    return [b.text for b in zxingcpp.read_barcodes(frame, formats=QR_ONLY)]


class CountingStep:
    """A fallback that records every crop it is shown and reads nothing."""

    def __init__(self, name: str = "counter") -> None:
        self.crops: list[Crop] = []
        self.step = Step(name, self._run)

    def _run(self, crop: Crop) -> list[RawRead]:
        self.crops.append(crop)
        return []


@pytest.fixture(scope="module")
def text() -> str:
    return pass_text()


DISTORTIONS = {
    "3 px per module": Distortion(module_px=3),
    "8 px per module on a phone": Distortion(module_px=8, look="phone", center=(0.5, 0.5)),
    "blur": Distortion(module_px=5, blur_sigma=1.5),
    "rotation": Distortion(module_px=4, angle_deg=37),
    "perspective": Distortion(module_px=4, tilt_deg=40, tilt_axis_deg=30),
    "glare on a phone": Distortion(module_px=5, glare=0.9, look="phone"),
    "noise": Distortion(module_px=4, noise_sigma=12),
    "finger over the code": Distortion(module_px=5, occlusion=0.3),
    "inverted": Distortion(module_px=4, invert=True, look="phone"),
    "washed out": Distortion(module_px=4, contrast=0.35),
    "all at once": Distortion(module_px=4, angle_deg=-20, tilt_deg=25, blur_sigma=0.8, glare=0.5, noise_sigma=5),
}


@pytest.mark.parametrize("name", list(DISTORTIONS))
def test_reads_a_distorted_pass(text: str, name: str) -> None:
    distortion = DISTORTIONS[name]
    size = (1280, 720) if distortion.module_px > 6 else (640, 480)
    result = decode_once(frame_with(text, distortion, size=size))
    assert result.texts == (text,), name
    assert result.error is None
    quad = np.array(result.regions[0])
    assert quad.shape == (4, 2)
    assert (quad >= 0).all()
    assert (quad[:, 0] <= size[0]).all()
    assert (quad[:, 1] <= size[1]).all()


def test_a_tiny_code_in_a_big_frame() -> None:
    frame = frame_with("GRIDPASS-TINY", Distortion(module_px=2.0, center=(0.8, 0.3)), size=(1920, 1080), seed=1)
    result = decode_once(frame)
    assert result.texts == ("GRIDPASS-TINY",)
    x, y = np.array(result.regions[0]).mean(axis=0)
    assert abs(x - 0.8 * 1920) < 40
    assert abs(y - 0.3 * 1080) < 40


@pytest.mark.parametrize(
    ("distortion", "seed"),
    [(Distortion(module_px=2.5, blur_sigma=1.3), 0), (Distortion(module_px=3.0, blur_sigma=1.6), 1),
     (Distortion(module_px=6, blur_sigma=3.4), 2), (Distortion(module_px=4, contrast=0.15, noise_sigma=10), 2)],
)  # fmt: skip
def test_the_fallbacks_read_what_bare_zxing_misses(text: str, distortion: Distortion, seed: int) -> None:
    frame = frame_with(text, distortion, seed=seed)
    assert bare_zxing(frame) == []
    result = decode_once(frame)
    assert result.texts == (text,)
    assert result.engines[0] in STEPS
    assert result.code_like
    assert result.attempts[0] == "zxing"


def test_large_photos_full_resolution_and_through_the_downscaled_gate(text: str) -> None:
    photo = frame_with(text, Distortion(module_px=24, look="phone", angle_deg=10), size=(4000, 3000))
    assert decode_once(photo).texts == (text,)
    regions = code_like_regions(photo)
    assert regions
    box = regions[0]
    assert box.x0 < 2000 < box.x1
    assert box.y0 < 1500 < box.y1
    small = frame_with(text, Distortion(module_px=2.5, blur_sigma=1.3), size=(640, 480))
    big = u8(cv2.resize(small, None, fx=6, fy=6, interpolation=cv2.INTER_LINEAR))  # the same hard frame, 3840x2880
    assert bare_zxing(big) == []
    assert code_like_regions(big)
    result = decode_once(big)
    assert result.texts == (text,)
    assert result.engines[0] in STEPS
    x, y = np.array(result.regions[0]).mean(axis=0)
    assert abs(x - 1920) < 100
    assert abs(y - 1440) < 100


def test_two_codes_in_one_frame_are_both_read() -> None:
    rng = np.random.default_rng(3)
    frame = render(make_scene(rng, 1280, 720), qr_modules("FIRST"), Distortion(module_px=5, center=(0.25, 0.5)), rng)
    second = render(frame.image, qr_modules("SECOND"), Distortion(module_px=5, center=(0.75, 0.5)), rng)
    result = decode_once(second.image)
    assert sorted(result.texts) == ["FIRST", "SECOND"]
    assert len(set(result.texts)) == len(result.regions) == len(result.engines) == 2


def test_the_second_frame_is_read_in_the_last_codes_region(text: str) -> None:
    decoder = Decoder()
    first = decoder.decode(frame_with(text, Distortion(module_px=4, center=(0.45, 0.5)), seed=0))
    assert (first.texts, first.engines, first.attempts) == ((text,), ("zxing",), ("zxing",))
    second = decoder.decode(frame_with(text, Distortion(module_px=4, center=(0.48, 0.52), angle_deg=3), seed=1))
    assert (second.texts, second.engines, second.attempts) == ((text,), ("zxing-roi",), ("zxing-roi",))
    x, y = np.array(second.regions[0]).mean(axis=0)
    assert abs(x - 0.48 * 640) < 10
    assert abs(y - 0.52 * 480) < 10


def test_a_code_elsewhere_is_found_by_the_full_frame_read_and_an_empty_region_is_forgotten(text: str) -> None:
    decoder = Decoder(DecoderOptions(roi_patience=2))
    decoder.decode(frame_with(text, Distortion(module_px=3, center=(0.25, 0.3))))
    moved = decoder.decode(frame_with(text, Distortion(module_px=3, center=(0.7, 0.7))))
    assert (moved.texts, moved.engines, moved.attempts) == ((text,), ("zxing",), ("zxing-roi", "zxing"))
    for _ in range(2):
        assert decoder.decode(empty_frame((640, 480), 1)).attempts == ("zxing-roi", "zxing")
    assert decoder.state.region is None
    assert decoder.decode(empty_frame((640, 480), 1)).attempts == ("zxing",)
    decoder.decode(frame_with(text, Distortion(module_px=3)))
    decoder.reset()
    assert decoder.state.region is None


@pytest.mark.parametrize("size", [(640, 480), (1280, 720), (1920, 1080)])
@pytest.mark.parametrize("color", [False, True])
def test_empty_frames_never_reach_the_fallbacks(size: tuple[int, int], color: bool) -> None:
    counter = CountingStep()
    decoder = Decoder(steps=[counter.step])
    for seed in range(6):
        result = decoder.decode(empty_frame(size, seed, color=color))
        assert result.texts == ()
        assert result.attempts == ("zxing",)
        assert not result.code_like
    assert counter.crops == []


def test_a_code_like_frame_goes_through_every_fallback_in_order(text: str) -> None:
    first, second = CountingStep("first"), CountingStep("second")
    frame = frame_with(text, Distortion(module_px=2.5, blur_sigma=1.9))
    assert bare_zxing(frame) == []
    result = Decoder(DecoderOptions(track=False), steps=[first.step, second.step]).decode(frame)
    assert result.code_like
    assert result.texts == ()
    assert result.attempts[:3] == ("zxing", "first", "second")
    assert len(first.crops) == len(second.crops) >= 1
    crop = first.crops[0]
    assert crop.box.x0 < 320 < crop.box.x1
    assert crop.box.y0 < 240 < crop.box.y1
    assert max(crop.scaled.shape) >= max(crop.native.shape)  # a small code is enlarged for the fallbacks


def test_a_fallback_budget_stops_further_steps(text: str) -> None:
    steps = [CountingStep(name) for name in ("first", "second", "third")]
    clock = iter(range(100))  # every reading of the timer is 10 ms later
    decoder = Decoder(
        DecoderOptions(track=False, fallback_budget_ms=25),
        steps=[s.step for s in steps],
        timer=lambda: next(clock) / 100,
    )
    result = decoder.decode(frame_with(text, Distortion(module_px=2.5, blur_sigma=1.9)))
    assert result.code_like
    assert result.attempts == ("zxing", "first", "second")
    assert len(steps[2].crops) == 0


def test_no_fallbacks_means_bare_zxing(text: str) -> None:
    frame = frame_with(text, Distortion(module_px=2.5, blur_sigma=1.3))
    result = Decoder(DecoderOptions(fallbacks=(), track=False)).decode(frame)
    assert result.texts == ()
    assert result.code_like
    assert result.attempts == ("zxing",)


def test_unknown_fallbacks_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown fallback"):
        Decoder(DecoderOptions(fallbacks=("zxing-scaled", "tesseract")))


def test_elapsed_time_comes_from_the_injected_timer() -> None:
    ticks = iter([10.0, 10.25])
    result = Decoder(timer=lambda: next(ticks)).decode(np.zeros((8, 8), np.uint8))
    assert result.elapsed_ms == pytest.approx(250.0)


GARBAGE: dict[str, Callable[[], object]] = {
    "random noise": lambda: np.random.default_rng(0).integers(0, 256, (480, 640), dtype=np.uint8),
    "coloured noise": lambda: np.random.default_rng(1).integers(0, 256, (480, 640, 3), dtype=np.uint8),
    "all black": lambda: np.zeros((720, 1280), np.uint8),
    "all white": lambda: np.full((720, 1280, 3), 255, np.uint8),
    "1x1": lambda: np.zeros((1, 1), np.uint8),
    "one row": lambda: np.zeros((1, 640), np.uint8),
    "float in 0..1": lambda: np.random.default_rng(2).random((120, 160)),
    "float with nan and inf": lambda: np.array([[np.nan, np.inf], [-np.inf, 3.0]]),
    "uint16": lambda: np.random.default_rng(3).integers(0, 65535, (120, 160), dtype=np.uint16),
    "negative int": lambda: np.full((50, 50), -5, np.int32),
    "bool": lambda: np.random.default_rng(4).random((64, 64)) > 0.5,
    "bgra": lambda: np.zeros((64, 64, 4), np.uint8),
    "two channels": lambda: np.zeros((64, 64, 2), np.uint8),
    "one channel axis": lambda: np.zeros((64, 64, 1), np.uint8),
    "non-contiguous": lambda: np.zeros((200, 300, 3), np.uint8)[::3, ::2],
}
INVALID: dict[str, Callable[[], object]] = {
    "empty": lambda: np.zeros((0, 5), np.uint8),
    "one dimension": lambda: np.zeros((640,), np.uint8),
    "four dimensions": lambda: np.zeros((2, 3, 4, 3), np.uint8),
    "five channels": lambda: np.zeros((8, 8, 5), np.uint8),
    "strings": lambda: np.array([["a", "b"], ["c", "d"]]),
    "objects": lambda: np.array([[object(), None]], dtype=object),
    "complex": lambda: np.ones((8, 8), np.complex64),
    "none": lambda: None,
    "ragged list": lambda: [[1, 2], [3]],
}


@pytest.mark.parametrize("name", list(GARBAGE))
def test_garbage_frames_give_empty_results(name: str) -> None:
    result = Decoder().decode(GARBAGE[name]())
    assert result.texts == ()
    assert result.error is None


@pytest.mark.parametrize("name", list(INVALID))
def test_frames_that_are_not_images_say_why(name: str) -> None:
    result = Decoder().decode(INVALID[name]())
    assert result.texts == ()
    assert result.error


def test_a_uint8_frame_is_passed_to_zxing_as_it_is() -> None:
    frame = np.zeros((10, 10, 3), np.uint8)
    image, problem = as_frame(frame)
    assert problem is None
    assert image is frame


def test_other_dtypes_are_scaled_into_grey_levels(text: str) -> None:
    code = qr_image(text, scale=4)
    for variant in (code / 255.0, code.astype(np.uint16) * 257, code > 127):
        assert decode_once(variant).texts == (text,)


def test_gate_boxes() -> None:
    box = Box(10, 20, 30, 60)
    assert (box.width, box.height) == (20, 40)
    assert box.grown(0.5, 45, 70) == Box(0, 0, 45, 70)
    assert box.overlaps(Box(29, 59, 40, 70))
    assert not box.overlaps(Box(30, 20, 40, 60))
    assert box.covered_by(Box(0, 0, 20, 100)) == 0.5
    assert box.covered_by(Box(30, 0, 40, 10)) == 0.0
    assert code_like_regions(np.zeros((20, 20), np.uint8)) == []
    assert code_like_regions(empty_frame((640, 480), 0), GateOptions(max_side=320)) == []


DISTORTIONS_IN_READABLE_RANGE = st.builds(
    Distortion,
    module_px=st.floats(2.5, 8.0),
    angle_deg=st.floats(-180, 180),
    tilt_deg=st.floats(0, 50),
    tilt_axis_deg=st.floats(0, 180),
    blur_sigma=st.floats(0, 2.0),
    glare=st.floats(0, 0.9),
    noise_sigma=st.floats(0, 12),
    occlusion=st.floats(0, 0.3),
    look=st.sampled_from(["paper", "phone"]),
    invert=st.booleans(),
    contrast=st.floats(0.3, 1.0),
)


@settings(max_examples=25, deadline=None)
@given(distortion=DISTORTIONS_IN_READABLE_RANGE, seed=st.integers(0, 2**16))
def test_reads_at_least_whenever_bare_zxing_reads(distortion: Distortion, seed: int) -> None:
    frame = frame_with("GP1:PROPERTY-TEST-0123456789", distortion, size=(1280, 720), seed=seed)
    bare = bare_zxing(frame)
    ours = decode_once(frame)
    assert set(bare) <= set(ours.texts)
