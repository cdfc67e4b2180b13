"""The QR engines behind the decoder (zxing-cpp, zbar through pyzbar, OpenCV) and the fallback steps built on them.

Every function here is pure: an image in, reads out, corners in the coordinates of the image given. Engine errors on
odd input are caught here, per engine, and count as "nothing read".

A fallback :class:`Step` looks at one candidate region, a :class:`Crop`: the region cut from the frame in grey, and a
copy scaled so that the region's longer side is about ``target`` pixels (small codes are enlarged, large ones
shrunk with area averaging, which also smooths sensor noise and screen moiré).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt
import zxingcpp
from pyzbar import pyzbar

from device.vision.gate import Box
from device.vision.images import Image, u8

log = logging.getLogger(__name__)

Point = tuple[float, float]
Corners = tuple[Point, Point, Point, Point]

QR_ONLY = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)
UPSCALE_MAX = 4.0
"""A crop is enlarged at most this much (a code of 2 px per module becomes 8)."""
SAME_SCALE = (0.8, 1.25)
"""Scale factors this close to 1 are not worth a resize."""
EDGE_PAD = 0.1
"""Border added where a region touches the frame's edge, as a fraction of the region's longer side."""


@dataclass(frozen=True, slots=True)
class RawRead:
    """One code an engine read: its text and its corners (top-left, top-right, bottom-right, bottom-left)."""

    text: str
    corners: Corners


def _corners(points: npt.ArrayLike) -> Corners:
    array = np.asarray(points, dtype=np.float64).reshape(-1, 2)[:4]
    return tuple((float(x), float(y)) for x, y in array)  # type: ignore[return-value]


def _position_corners(barcode: zxingcpp.Barcode) -> Corners:
    p = barcode.position
    return _corners([(q.x, q.y) for q in (p.top_left, p.top_right, p.bottom_right, p.bottom_left)])


def box_of(corners: Corners) -> Box:
    """The axis-aligned box around four corners."""
    xs, ys = [c[0] for c in corners], [c[1] for c in corners]
    return Box(int(min(xs)), int(min(ys)), int(np.ceil(max(xs))), int(np.ceil(max(ys))))


def zxing_read(
    image: Image, *, binarizer: zxingcpp.Binarizer = zxingcpp.Binarizer.LocalAverage, return_errors: bool = False
) -> tuple[list[RawRead], list[Box]]:
    """zxing-cpp with its defaults (QR only): the codes it read, and where it found codes it could not decode.

    Valid results with ``return_errors`` are those without it: zxing-cpp only adds the symbols in error (it drops an
    erroneous one that overlaps a valid one), so one call serves as the bare read and as a hint for the fallbacks.
    """
    try:
        found = zxingcpp.read_barcodes(image, formats=QR_ONLY, binarizer=binarizer, return_errors=return_errors)
    except (ValueError, TypeError, RuntimeError) as exc:
        log.debug("zxing-cpp refused a %s image: %s", image.shape, exc)
        return [], []
    reads = [RawRead(b.text, _position_corners(b)) for b in found if b.valid]
    failed = [box_of(_position_corners(b)) for b in found if not b.valid]
    return reads, failed


def pyzbar_read(gray: Image) -> list[RawRead]:
    """zbar's QR reader (through pyzbar) on a grey image."""
    try:
        found = pyzbar.decode(gray, symbols=[pyzbar.ZBarSymbol.QRCODE])
    except (pyzbar.PyZbarError, ValueError, TypeError, ZeroDivisionError) as exc:
        log.debug("zbar refused a %s image: %s", gray.shape, exc)
        return []
    reads: list[RawRead] = []
    for symbol in found:
        polygon = [(p.x, p.y) for p in symbol.polygon]
        if len(polygon) != 4:
            r = symbol.rect
            polygon = [(r.left, r.top), (r.left + r.width, r.top), (r.left + r.width, r.top + r.height),
                       (r.left, r.top + r.height)]  # fmt: skip
        reads.append(RawRead(symbol.data.decode("utf-8", "replace"), _corners(polygon)))
    return reads


def opencv_read(gray: Image) -> list[RawRead]:
    """OpenCV's QRCodeDetector on a grey image."""
    if min(gray.shape[:2]) < 21:
        return []
    try:
        text, points, _ = cv2.QRCodeDetector().detectAndDecode(gray)
    except cv2.error as exc:
        log.debug("OpenCV refused a %s image: %s", gray.shape, exc)
        return []
    if not text or points is None:
        return []
    return [RawRead(str(text), _corners(points))]


def sharpen(gray: Image, sigma: float = 2.0, amount: float = 1.0) -> Image:
    """Unsharp mask: steepens the edges a blurred or enlarged code has lost."""
    return u8(cv2.addWeighted(gray, 1 + amount, cv2.GaussianBlur(gray, (0, 0), sigma), -amount, 0))


def smooth(gray: Image, sigma: float = 1.0) -> Image:
    """A light Gaussian blur: evens out sensor noise and glare speckle before a global threshold."""
    return u8(cv2.GaussianBlur(gray, (0, 0), sigma))


def equalise(gray: Image) -> Image:
    """Local contrast normalisation (CLAHE): lifts a code out of glare and shadow."""
    return u8(cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8)).apply(gray))


@dataclass(frozen=True, slots=True)
class Crop:
    """One candidate region of a frame, in grey, at its own scale (``native``) and scaled (``scaled``)."""

    box: Box
    native: Image
    scaled: Image
    scale: float
    origin: tuple[int, int]
    """Frame coordinates of ``native``'s top-left pixel (negative where a quiet zone was added beyond the frame)."""

    @classmethod
    def cut(cls, frame: Image, box: Box, target: int) -> Crop:
        """Cut ``box`` out of a grey or BGR frame, in grey, scaled so its longer side is about ``target`` pixels.

        Where the box touches the frame's edge, a light border stands in for a quiet zone the photo cut off.
        """
        native = frame[box.y0 : box.y1, box.x0 : box.x1]
        if native.ndim == 3:  # only the region is converted, not a whole 12-megapixel photo
            native = u8(cv2.cvtColor(native, cv2.COLOR_BGR2GRAY))
        height, width = frame.shape[:2]
        pad = round(EDGE_PAD * max(box.width, box.height))
        top, left = pad * (box.y0 == 0), pad * (box.x0 == 0)
        bottom, right = pad * (box.y1 >= height), pad * (box.x1 >= width)
        if pad and (top or left or bottom or right):
            light = float(cv2.minMaxLoc(native)[1])
            native = u8(cv2.copyMakeBorder(native, top, bottom, left, right, cv2.BORDER_CONSTANT, value=light))
        origin = (box.x0 - left, box.y0 - top)
        factor = min(UPSCALE_MAX, target / max(1, *native.shape[:2]))
        if SAME_SCALE[0] <= factor <= SAME_SCALE[1]:
            return cls(box, native, native, 1.0, origin)
        size = (max(1, round(native.shape[1] * factor)), max(1, round(native.shape[0] * factor)))
        method = cv2.INTER_CUBIC if factor > 1 else cv2.INTER_AREA
        return cls(box, native, u8(cv2.resize(native, size, interpolation=method)), factor, origin)

    def from_scaled(self, reads: list[RawRead]) -> list[RawRead]:
        """Reads made on ``scaled`` in full-frame coordinates."""
        return self._moved(reads, self.scale)

    def from_native(self, reads: list[RawRead]) -> list[RawRead]:
        """Reads made on ``native`` in full-frame coordinates."""
        return self._moved(reads, 1.0)

    def _moved(self, reads: list[RawRead], scale: float) -> list[RawRead]:
        return [
            RawRead(r.text, tuple((x / scale + self.origin[0], y / scale + self.origin[1]) for x, y in r.corners))  # type: ignore[arg-type]
            for r in reads
        ]


@dataclass(frozen=True, slots=True)
class Step:
    """One fallback: a name (reported in results) and what it does with a crop (reads in frame coordinates)."""

    name: str
    run: Callable[[Crop], list[RawRead]]


def _zxing_scaled(crop: Crop) -> list[RawRead]:
    return crop.from_scaled(zxing_read(crop.scaled)[0])


def _zxing_sharp(crop: Crop) -> list[RawRead]:
    sigma = max(1.0, crop.scale)
    return crop.from_scaled(zxing_read(sharpen(crop.scaled, sigma=sigma))[0])


def _zxing_equalised(crop: Crop) -> list[RawRead]:
    hist = zxingcpp.Binarizer.GlobalHistogram
    return crop.from_scaled(zxing_read(equalise(crop.scaled), binarizer=hist)[0])


def _pyzbar(crop: Crop) -> list[RawRead]:
    if crop.scale > 1:  # zbar reads small codes best at their own size, lightly smoothed
        return crop.from_native(pyzbar_read(smooth(crop.native)))
    return crop.from_scaled(pyzbar_read(smooth(crop.scaled)))


def _pyzbar_inverted(crop: Crop) -> list[RawRead]:
    return crop.from_scaled(pyzbar_read(u8(cv2.bitwise_not(crop.scaled))))


def _opencv(crop: Crop) -> list[RawRead]:
    return crop.from_scaled(opencv_read(crop.scaled))


STEPS: dict[str, Step] = {
    step.name: step
    for step in (
        Step("zxing-scaled", _zxing_scaled),
        Step("zxing-sharp", _zxing_sharp),
        Step("pyzbar", _pyzbar),
        Step("opencv", _opencv),
        Step("zxing-equalised", _zxing_equalised),
        Step("pyzbar-inverted", _pyzbar_inverted),
    )
}
"""Every fallback step by name; ``DecoderOptions.fallbacks`` picks and orders them."""
