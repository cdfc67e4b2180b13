"""The "code-like" gate: where in a frame something looks like a QR code, at a fraction of a decoder's cost.

A QR code is a patch dense with sharp light/dark steps in both directions. The gate samples every ``stride``-th row
(and row pairs ``step`` apart for the vertical direction), marks steps larger than ``edge`` grey levels, and averages
the marks over square blocks; a block is code-like when both its horizontal and its vertical step densities reach
``density``. Neighbouring code-like blocks form candidate regions. Walls, doors, a single edge or line, and sensor
noise do not pass; text, keyboards and fabric may, which only costs the fallbacks a look.

Frames larger than ``max_side`` are sampled at every n-th pixel (no resize: a resize of the whole frame would cost
more than the gate), so the cost stays a few hundredths of a millisecond from 640x480 to 4000x3000. Everything is
measured on that sampled grid: a code of 3 px per module in a 1280x720 frame is 1 px per module there, which still
reads as dense steps. An empty frame stops at the first density test; the noise estimate (a histogram) that raises
``edge`` in dark, noisy frames is only computed when some block passed it.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from device.vision.images import Image, u8


@dataclass(frozen=True, slots=True)
class GateOptions:
    """Tuning of the gate; the defaults suit 640x480 to 4000x3000 frames with codes of 2 to 40 px per module."""

    max_side: int = 320
    """Frames with a longer side are sampled at every n-th pixel so that the sampled grid is at most this long."""
    block: int = 32
    """Block size in sampled pixels over which step densities are averaged."""
    stride: int = 8
    """Only every ``stride``-th row is sampled for horizontal steps (and row pairs for vertical ones)."""
    step: int = 2
    """Distance in pixels between the two samples of a step (2 catches slightly blurred edges)."""
    edge: int = 28
    """A change of more than this many grey levels is a step."""
    density: float = 0.1
    """Fraction of sampled pixels that must be steps, in both directions, for a block to be code-like."""
    min_blocks: int = 4
    """A candidate region has at least this many code-like blocks..."""
    dense: float = 0.2
    """...or fewer blocks whose mean step density reaches this (a small code is dense with steps)."""
    reach: float = 0.5
    """A region extends over neighbouring blocks whose density is at least this fraction of ``density``."""
    max_regions: int = 4
    """Regions returned at most, densest first."""


@dataclass(frozen=True, slots=True)
class Box:
    """An axis-aligned region in full-frame pixels; ``score`` orders candidates (higher is more code-like)."""

    x0: int
    y0: int
    x1: int
    y1: int
    score: float = 0.0

    @property
    def width(self) -> int:
        """Width in pixels."""
        return self.x1 - self.x0

    @property
    def height(self) -> int:
        """Height in pixels."""
        return self.y1 - self.y0

    def grown(self, margin: float, width: int, height: int) -> Box:
        """The box enlarged by ``margin`` of its longer side on every edge, clipped to the frame."""
        pad = round(margin * max(self.width, self.height))
        return Box(
            max(0, self.x0 - pad), max(0, self.y0 - pad), min(width, self.x1 + pad), min(height, self.y1 + pad),
            self.score,
        )  # fmt: skip

    def overlaps(self, other: Box) -> bool:
        """True when the two boxes share any area."""
        return self.x0 < other.x1 and other.x0 < self.x1 and self.y0 < other.y1 and other.y0 < self.y1

    def covered_by(self, other: Box) -> float:
        """The fraction of this box's area that ``other`` covers."""
        w = min(self.x1, other.x1) - max(self.x0, other.x0)
        h = min(self.y1, other.y1) - max(self.y0, other.y0)
        return max(0, w) * max(0, h) / max(1, self.width * self.height)


def _rows(image: Image, start: int, *, stride: int, count: int, skip: int, width: int) -> Image:
    """``count`` rows from ``start`` every ``stride`` rows, every ``skip``-th pixel, as one 2-D uint8 plane.

    Colour frames give their green plane: it stands in for luminance without a conversion over the whole frame.
    """
    rows = image[start : start + stride * count : stride, 0 : width * skip : skip]
    return np.ascontiguousarray(rows if rows.ndim == 2 else rows[:, :, 1])


def _edge_level(steps: Image, floor: int) -> int:
    """The step size that counts as an edge: ``floor``, raised in noisy frames to four times the median step.

    The median comes from a quarter of the sampled rows: a noise estimate needs no more.
    """
    histogram = cv2.calcHist([steps[::4]], [0], None, [256], [0, 256]).ravel()
    median = int(np.searchsorted(np.cumsum(histogram), histogram.sum() / 2))
    return min(200, max(floor, 4 * median))


def _density(horizontal: Image, vertical: Image, edge: int, size: tuple[int, int]) -> Image:
    """Per block, the smaller of the horizontal and vertical step densities (0..255)."""
    h_steps = cv2.threshold(horizontal, edge, 255, cv2.THRESH_BINARY)[1]
    v_steps = cv2.threshold(vertical, edge, 255, cv2.THRESH_BINARY)[1]
    h_density = cv2.resize(h_steps, size, interpolation=cv2.INTER_AREA).reshape(size[1], size[0])
    v_density = cv2.resize(v_steps, size, interpolation=cv2.INTER_AREA).reshape(size[1], size[0])
    return np.minimum(h_density, v_density)


def _mask(density: Image, threshold: float) -> Image:
    """Code-like blocks as 255, others 0."""
    return np.where(density >= int(threshold * 255), 255, 0).astype(np.uint8)


def code_like_regions(image: Image, options: GateOptions | None = None) -> list[Box]:
    """Candidate code regions of a grey or BGR uint8 frame, in full-frame pixels, densest first; [] when none."""
    opts = options or GateOptions()
    height, width = image.shape[:2]
    skip = max(1, -(-max(height, width) // opts.max_side))  # sample every skip-th pixel of large frames
    work_h, work_w = height // skip, width // skip
    blocks_y, blocks_x = (work_h - opts.step) // opts.block, (work_w - opts.step) // opts.block
    if blocks_y < 1 or blocks_x < 1:
        return []
    used_w = blocks_x * opts.block
    count = blocks_y * opts.block // opts.stride
    row_stride = opts.stride * skip
    sampled = _rows(image, 0, stride=row_stride, count=count, skip=skip, width=used_w + opts.step)
    below = _rows(image, opts.step * skip, stride=row_stride, count=count, skip=skip, width=used_w)
    horizontal = u8(cv2.absdiff(sampled[:, opts.step :], sampled[:, :used_w]))
    vertical = u8(cv2.absdiff(below, sampled[:, :used_w]))
    size = (blocks_x, blocks_y)
    density = _density(horizontal, vertical, opts.edge, size)
    mask = _mask(density, opts.density)
    if not mask.any():
        return []  # the common case, an empty frame, ends here: the noise estimate below is only paid for hits
    edge = _edge_level(horizontal, opts.edge)
    if edge > opts.edge:
        density = _density(horizontal, vertical, edge, size)
        mask = _mask(density, opts.density)
        if not mask.any():
            return []
    return _regions(mask, density, opts, opts.block * skip, (width, height))


def _regions(mask: Image, density: Image, opts: GateOptions, scale: int, frame: tuple[int, int]) -> list[Box]:
    """Boxes around groups of code-like blocks that are large enough, or small but very dense.

    A group reaches out over neighbouring blocks at half the density (hysteresis): the blurred or glared part of a
    code is less dense than the rest, and a box around the dense part alone would cut the code.
    """
    weak = _mask(density, opts.density * opts.reach)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(
        u8(cv2.dilate(weak, np.ones((3, 3), np.uint8))), connectivity=8
    )
    regions: list[Box] = []
    for label in range(1, count):
        member = (labels == label) & (mask > 0)
        blocks = int(member.sum())
        if not blocks:
            continue
        score = float(density[member].sum()) / 255
        if blocks < opts.min_blocks and score / blocks < opts.dense:
            continue
        x, y, w, h = (int(v) for v in stats[label, :4])
        half = scale // 2  # the dilation added a block on each side: keep half of it as margin
        right, bottom = min(frame[0], (x + w) * scale - half), min(frame[1], (y + h) * scale - half)
        regions.append(Box(x * scale + half, y * scale + half, right, bottom, score))
    regions.sort(key=lambda b: -b.score)
    return regions[: opts.max_regions]
