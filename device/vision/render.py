"""Rendering QR codes into camera-like frames: pure functions, a seeded ``numpy`` Generator in, pixels out.

Used by the synthetic camera, the decoder tests and the decode benchmark. A code is handled as its module matrix
(one pixel per module, 0 dark, 255 light, no quiet zone); it is laid on a card (paper, or a phone screen in its dark
bezel) with a quiet zone of four modules, drawn into a scene with a perspective warp, and then the camera's faults
are added: blur, glare, sensor noise, a finger over part of the code.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np
import numpy.typing as npt
import zxingcpp

from device.vision.images import Image, u8

Quad = tuple[tuple[float, float], tuple[float, float], tuple[float, float], tuple[float, float]]
Look = Literal["paper", "phone", "bare"]

QUIET_MODULES = 4
"""Quiet zone around the code on its card, in modules (what the QR specification asks for)."""
MAX_SAFE_OCCLUSION = 0.35
"""A finger covers at most this fraction of the code's side unless ``Distortion.unsafe_occlusion`` is set."""
SKIN_BGR = (120, 150, 205)
FOCAL_FRAMES = 1.2
"""Focal length of the imagined camera, in frame widths (a normal lens): sets how strong a tilt looks."""


@dataclass(frozen=True, slots=True)
class Distortion:
    """How one code looks to the camera. Defaults are a clean, straight, sharp code."""

    module_px: float = 4.0
    """Size of one module at the code's centre, in frame pixels."""
    angle_deg: float = 0.0
    """Rotation in the image plane."""
    tilt_deg: float = 0.0
    """Out-of-plane tilt (perspective), 0 to about 60."""
    tilt_axis_deg: float = 0.0
    """Direction of the axis the code is tilted about, in the code's plane."""
    blur_sigma: float = 0.0
    """Gaussian blur of the whole frame (defocus, motion), in pixels."""
    glare: float = 0.0
    """Strength of a bright elliptical highlight over part of the code, 0 to 1."""
    noise_sigma: float = 0.0
    """Gaussian sensor noise, in grey levels."""
    occlusion: float = 0.0
    """Fraction of the code's side a finger covers from the bottom edge (capped at ``MAX_SAFE_OCCLUSION``)."""
    unsafe_occlusion: bool = False
    """Allow ``occlusion`` above the cap (a code no decoder may be able to read)."""
    look: Look = "paper"
    """paper: a printout; phone: a screen in a dark rounded bezel; bare: the code and its quiet zone only."""
    invert: bool = False
    """Light modules on a dark ground (dark-mode apps)."""
    contrast: float = 1.0
    """1 is full black on white; lower values wash the card out towards grey."""
    center: tuple[float, float] | None = None
    """Where the code's centre is, as fractions of the frame's width and height; None is the middle."""


@dataclass(frozen=True, slots=True)
class Rendered:
    """A rendered frame and where the code is in it (the symbol's corners without the quiet zone)."""

    image: Image
    quad: Quad | None


def qr_modules(text: str, *, ec_level: str = "Q") -> Image:
    """The module matrix of ``text`` as a QR code (one pixel per module, no quiet zone)."""
    barcode = zxingcpp.create_barcode(text, zxingcpp.BarcodeFormat.QRCode, ec_level=ec_level)
    return np.ascontiguousarray(np.asarray(zxingcpp.write_barcode_to_image(barcode, add_quiet_zones=False)))


def modules_from_image(code: npt.NDArray[np.generic]) -> Image:
    """The module matrix of a pre-rendered, upright QR image (any scale, with or without a quiet zone).

    The module size is the width of the top-left finder pattern's first dark run divided by seven.
    """
    gray = u8(code) if code.ndim == 2 else u8(cv2.cvtColor(u8(code), cv2.COLOR_BGR2GRAY))
    dark = np.asarray(gray) < 128
    rows, cols = np.nonzero(dark)
    if rows.size == 0:
        raise ValueError("the image holds no dark modules")
    top, left, right = rows.min(), cols.min(), cols.max() + 1
    run = int(np.argmin(dark[top, left:right])) or (right - left)
    size = run / 7.0
    count = round((right - left) / size)
    centres = (np.arange(count) + 0.5) * size
    ys = np.clip((top + centres).astype(int), 0, dark.shape[0] - 1)
    xs = np.clip((left + centres).astype(int), 0, dark.shape[1] - 1)
    return np.where(dark[np.ix_(ys, xs)], 0, 255).astype(np.uint8)


def make_scene(rng: np.random.Generator, width: int, height: int, *, color: bool = False) -> Image:
    """A plausible checkpoint background: a lit wall, a door frame, a few posters and soft texture."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    gx, gy = rng.uniform(-0.15, 0.15, 2)
    base = 120 + 60 * (gx * xs / width + gy * ys / height)
    texture = cv2.resize(rng.normal(0, 8, (height // 32 + 1, width // 32 + 1)).astype(np.float32), (width, height))
    scene = np.clip(base + texture, 0, 255).astype(np.uint8)
    scene = cv2.cvtColor(scene, cv2.COLOR_GRAY2BGR) if color else scene
    for _ in range(int(rng.integers(2, 6))):
        x0, y0 = int(rng.integers(0, width)), int(rng.integers(0, height))
        w, h = int(rng.integers(width // 12, width // 3)), int(rng.integers(height // 12, height // 2))
        shade = rng.integers(40, 220, 3 if color else 1).tolist()
        cv2.rectangle(scene, (x0, y0), (x0 + w, y0 + h), shade, -1 if rng.random() < 0.6 else max(2, width // 160))
    return u8(scene)


def _ink(value: float, color: bool) -> tuple[float, ...]:
    return (value, value, value) if color else (value,)


def _finger(card: Image, code_box: tuple[int, int, int, int], fraction: float, rng: np.random.Generator) -> None:
    """Draw a finger from the card's bottom edge up over ``fraction`` of the code, right of the bottom-left finder."""
    x0, _, x1, y1 = code_box
    side = x1 - x0
    width = max(2, int(side * 0.2))
    x = int(x0 + side * rng.uniform(0.45, 0.8))
    tip = int(y1 - side * fraction + width / 2)
    color: tuple[float, ...] = SKIN_BGR if card.ndim == 3 else (float(np.mean(SKIN_BGR)),)
    cv2.line(card, (x, card.shape[0] + width), (x, tip), color, width, cv2.LINE_AA)


def make_card(
    modules: Image, distortion: Distortion, rng: np.random.Generator, *, scale: int, color: bool
) -> tuple[Image, tuple[int, int, int]]:
    """The code on paper or a phone screen, ``scale`` card pixels per module, with the finger already on it.

    Returns the card and where the symbol is on it: left, top, side in card pixels.
    """
    dark, light = (235.0, 20.0) if distortion.invert else (20.0, 235.0)
    quiet = QUIET_MODULES * scale
    code = cv2.resize(modules, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
    code = np.where(code < 128, dark, light).astype(np.uint8)
    side = code.shape[0]
    if distortion.look == "phone":
        margin, header, footer = int(0.3 * side), int(0.6 * side), int(0.8 * side)
        size = (side + 2 * quiet + 2 * margin, side + 2 * quiet + header + footer)
        box = (margin + quiet, header + quiet)
        background = 0.0
    elif distortion.look == "paper":
        margin = int(0.4 * side)
        size = (side + 2 * quiet + 2 * margin, side + 2 * quiet + int(2.2 * margin))
        box = (margin + quiet, margin + quiet)
        background = 225.0
    else:
        size = (side + 2 * quiet, side + 2 * quiet)
        box = (quiet, quiet)
        background = light
    card = np.full((size[1], size[0], 3) if color else (size[1], size[0]), background, np.uint8)
    if distortion.look == "phone":
        bezel = int(0.06 * size[0])
        radius = int(0.12 * size[0])
        cv2.rectangle(card, (radius, 0), (size[0] - radius, size[1]), _ink(18, color), -1)
        cv2.rectangle(card, (0, radius), (size[0], size[1] - radius), _ink(18, color), -1)
        for cx, cy in ((radius, radius), (size[0] - radius, radius), (radius, size[1] - radius),
                       (size[0] - radius, size[1] - radius)):  # fmt: skip
            cv2.circle(card, (cx, cy), radius, _ink(18, color), -1, cv2.LINE_AA)
        cv2.rectangle(card, (bezel, 2 * bezel), (size[0] - bezel, size[1] - 2 * bezel), _ink(light, color), -1)
        for row in range(3):  # app chrome above the code: a title and two lines of text
            y = int(bezel * 2.5 + row * header / 4)
            cv2.rectangle(card, (2 * bezel, y), (size[0] - (3 + row) * bezel, y + header // 10), _ink(110, color), -1)
    elif distortion.look == "paper":
        for row in range(3):  # printed lines under the code
            y = box[1] + side + quiet + int((row + 0.5) * margin * 0.5)
            cv2.rectangle(card, (margin, y), (size[0] - margin - row * margin, y + max(1, scale)), _ink(60, color), -1)
        shade = np.linspace(1.0, rng.uniform(0.8, 1.0), size[0], dtype=np.float32)
        card = (card * (shade[None, :, None] if color else shade[None, :])).astype(np.uint8)
    x, y = box
    card[y - quiet : y + side + quiet, x - quiet : x + side + quiet] = light
    card[y : y + side, x : x + side] = code[..., None] if color else code
    occlusion = distortion.occlusion if distortion.unsafe_occlusion else min(distortion.occlusion, MAX_SAFE_OCCLUSION)
    if occlusion > 0:
        _finger(card, (x, y, x + side, y + side), occlusion, rng)
    if distortion.contrast != 1.0:
        card = np.clip(128 + (card.astype(np.float32) - 128) * distortion.contrast, 0, 255).astype(np.uint8)
    return card, (x, y, side)


def _projection(distortion: Distortion, width: int, height: int, module_scale: float) -> npt.NDArray[np.float64]:
    """Homography from card-centred coordinates (card pixels) to frame pixels."""
    k = distortion.module_px / module_scale
    tilt, axis, angle = (math.radians(a) for a in (distortion.tilt_deg, distortion.tilt_axis_deg, distortion.angle_deg))
    ux, uy = math.cos(axis), math.sin(axis)
    c, s = math.cos(tilt), math.sin(tilt)
    rotation = np.array(  # Rodrigues: rotate about the in-plane axis (ux, uy, 0) by the tilt
        [[c + ux * ux * (1 - c), ux * uy * (1 - c), uy * s],
         [ux * uy * (1 - c), c + uy * uy * (1 - c), -ux * s],
         [-uy * s, ux * s, c]]
    )  # fmt: skip
    focal = FOCAL_FRAMES * width
    cx, cy = distortion.center or (0.5, 0.5)
    spin = np.array([[math.cos(angle), -math.sin(angle), 0], [math.sin(angle), math.cos(angle), 0], [0, 0, 1]])
    project = np.array([[focal, 0, cx * width], [0, focal, cy * height], [0, 0, 1]])
    place = np.array([[k, 0, 0], [0, k, 0], [0, 0, 1]])
    # a plane point (X, Y, 1) goes to camera space R (kX, kY, 0) + (0, 0, focal), then through the pinhole
    to_camera = rotation @ place
    to_camera[:, 2] = [0, 0, focal]
    homography: npt.NDArray[np.float64] = project @ spin @ to_camera
    return homography


def _transform(homography: npt.NDArray[np.float64], points: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    moved = np.asarray(cv2.perspectiveTransform(points.reshape(-1, 1, 2), homography), dtype=np.float64)
    return moved.reshape(-1, 2)


def _glare(frame: Image, quad: npt.NDArray[np.float64], strength: float, rng: np.random.Generator) -> None:
    """Add a bright soft ellipse centred somewhere on the code."""
    weights = rng.dirichlet(np.ones(4))
    cx, cy = weights @ quad
    side = float(np.linalg.norm(quad[1] - quad[0]))
    a, b = side * rng.uniform(0.15, 0.35), side * rng.uniform(0.08, 0.2)
    theta = rng.uniform(0, math.pi)
    reach = int(2 * max(a, b))
    x0, y0 = max(0, int(cx) - reach), max(0, int(cy) - reach)
    x1, y1 = min(frame.shape[1], int(cx) + reach), min(frame.shape[0], int(cy) + reach)
    if x1 <= x0 or y1 <= y0:
        return
    ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    dx, dy = xs - cx, ys - cy
    u = (dx * math.cos(theta) + dy * math.sin(theta)) / a
    v = (-dx * math.sin(theta) + dy * math.cos(theta)) / b
    light = (255 * strength * np.exp(-(u * u + v * v))).astype(np.float32)
    patch = frame[y0:y1, x0:x1].astype(np.float32)
    patch += light[..., None] if frame.ndim == 3 else light
    frame[y0:y1, x0:x1] = np.clip(patch, 0, 255).astype(np.uint8)


def camera_faults(frame: Image, rng: np.random.Generator, *, blur_sigma: float, noise_sigma: float) -> Image:
    """Defocus and sensor noise over the whole frame."""
    out = cv2.GaussianBlur(frame, (0, 0), blur_sigma) if blur_sigma > 0 else frame
    if noise_sigma > 0:
        noise = rng.standard_normal(out.shape, dtype=np.float32) * noise_sigma
        out = np.clip(out.astype(np.float32) + noise, 0, 255).astype(np.uint8)
    return u8(out)


def render(scene: Image, modules: Image, distortion: Distortion, rng: np.random.Generator) -> Rendered:
    """Draw the code into a copy of ``scene`` as ``distortion`` says; ``rng`` makes every random choice."""
    height, width = scene.shape[:2]
    color = scene.ndim == 3
    scale = max(2, math.ceil(distortion.module_px))
    card, (left, top, side) = make_card(modules, distortion, rng, scale=scale, color=color)
    homography = _projection(distortion, width, height, scale)
    shift = np.array([[1, 0, -card.shape[1] / 2], [0, 1, -card.shape[0] / 2], [0, 0, 1]])
    homography = homography @ shift
    corners = np.array([[0, 0], [card.shape[1], 0], [card.shape[1], card.shape[0]], [0, card.shape[0]]], float)
    placed = _transform(homography, corners)
    x0, y0 = np.maximum(np.floor(placed.min(axis=0)).astype(int), 0)
    x1, y1 = np.minimum(np.ceil(placed.max(axis=0)).astype(int), [width, height])
    frame = scene.copy()
    if x1 > x0 and y1 > y0:
        local = np.array([[1, 0, -x0], [0, 1, -y0], [0, 0, 1]]) @ homography
        size = (int(x1 - x0), int(y1 - y0))
        warped = cv2.warpPerspective(card, local, size, flags=cv2.INTER_LINEAR)
        mask = cv2.warpPerspective(np.full(card.shape[:2], 255, np.uint8), local, size, flags=cv2.INTER_LINEAR)
        alpha = mask.astype(np.float32) / 255
        alpha = alpha[..., None] if color else alpha
        region = frame[y0:y1, x0:x1].astype(np.float32)
        frame[y0:y1, x0:x1] = (region * (1 - alpha) + warped * alpha).astype(np.uint8)
    symbol = np.array([[left, top], [left + side, top], [left + side, top + side], [left, top + side]], float)
    quad_points = _transform(homography, symbol)
    if distortion.glare > 0:
        _glare(frame, quad_points, distortion.glare, rng)
    frame = camera_faults(frame, rng, blur_sigma=distortion.blur_sigma, noise_sigma=distortion.noise_sigma)
    quad: Quad = tuple((float(x), float(y)) for x, y in quad_points)  # type: ignore[assignment]
    return Rendered(frame, quad)
