"""The scanner's QR decoder: a frame in, a :class:`DecodeResult` out; no capture, sleep or publish inside.

The order of work, cheapest and most certain first:

1. **Region of the last code** (``track``): while a person holds a code up, it is where it was a frame ago; zxing-cpp
   on that crop (with a margin) is a fraction of a full-frame read. A read there ends the work (so a second code
   elsewhere in that frame is not looked for: a checkpoint sees one person at a time; ``decode_once`` does not track).
2. **zxing-cpp on the whole frame, with its defaults** (QR only). This is exactly the bare zxing-cpp read, so the
   decoder never reads less than zxing-cpp does; a read here ends the work. The same call also returns the symbols
   zxing-cpp located but could not decode (``return_errors``), which leaves its valid results unchanged (its own
   code only adds the erroneous ones; checked on 1500 distorted frames) and costs nothing extra.
3. **The gate**: zxing-cpp's own detections it could not decode, and :func:`~device.vision.gate.code_like_regions`.
   A frame with nothing code-like ends here, having cost about one bare zxing-cpp call.
4. **Fallbacks** on each candidate region, in the configured order, until one reads: zxing-cpp on the region
   scaled to a working size, sharpened, zbar (pyzbar), OpenCV's detector, zxing-cpp on a contrast-normalised
   region with a global threshold, zbar on the inverted region.

The decoder keeps only the region of the last code (:class:`DecoderState`); everything else is a pure function of
the frame and the options. Elapsed time comes from an injected timer.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from device.vision.engines import STEPS, Corners, Crop, RawRead, Step, box_of, zxing_read
from device.vision.gate import Box, GateOptions, code_like_regions
from device.vision.images import Image

MAX_SIDE = 65535
"""zxing-cpp's limit on either side of an image."""
SAME_REGION = 0.8
"""A gate region this much covered by an undecoded zxing-cpp detection is the same candidate."""
DEFAULT_FALLBACKS = ("zxing-scaled", "zxing-sharp", "pyzbar", "opencv", "zxing-equalised", "pyzbar-inverted")


@dataclass(frozen=True, slots=True)
class DecoderOptions:
    """How hard the decoder tries, and where."""

    fallbacks: tuple[str, ...] = DEFAULT_FALLBACKS
    """Fallback steps by name (see ``device.vision.engines.STEPS``), in the order they are tried; () for none."""
    track: bool = True
    """Try the region of the last code first."""
    roi_margin: float = 0.5
    """Margin around the last code's region, as a fraction of its longer side (a hand moves between frames)."""
    roi_patience: int = 3
    """Frames without a read after which the last code's region is forgotten."""
    max_candidates: int = 3
    """Candidate regions the fallbacks look at, at most, per frame."""
    crop_margin: float = 0.2
    """Margin around zxing-cpp's undecoded detections before the fallbacks see them (room for the quiet zone)."""
    gate_margin: float = 0.35
    """Margin around the gate's regions, which are coarser (blocks) and may miss a washed-out part of the code."""
    crop_target_px: int = 800
    """Candidate regions are scaled so their longer side is about this many pixels."""
    stop_at_first: bool = True
    """Skip the remaining candidates once one has been read (a checkpoint sees one code at a time)."""
    fallback_budget_ms: float | None = None
    """Start no further fallback step once the frame has taken this long (None: no limit, results repeatable).

    A scanner that must keep its frame rate on a slow CPU sets it; reads then depend on the machine's speed."""
    gate: GateOptions = field(default_factory=GateOptions)
    """Tuning of the code-like gate."""


@dataclass(frozen=True, slots=True)
class DecodeResult:
    """What one frame held. ``texts``, ``regions`` and ``engines`` are parallel; texts are unique, in order found."""

    texts: tuple[str, ...] = ()
    regions: tuple[Corners, ...] = ()
    """Each code's corners in full-frame pixels: top-left, top-right, bottom-right, bottom-left."""
    engines: tuple[str, ...] = ()
    """What read each code: ``zxing-roi``, ``zxing`` or a fallback step's name."""
    elapsed_ms: float = 0.0
    attempts: tuple[str, ...] = ()
    """Every read attempted, in order (``zxing-roi``, ``zxing``, then fallback step names)."""
    code_like: bool = False
    """Whether the gate found anything code-like (always False when zxing-cpp read the frame outright)."""
    error: str | None = None
    """Why the frame could not be looked at (wrong shape, empty); None for any frame that could."""


@dataclass(slots=True)
class DecoderState:
    """Where the last code was, and for how many frames it has not been seen since."""

    region: Box | None = None
    misses: int = 0


def as_frame(frame: object) -> tuple[Image | None, str | None]:
    """A frame as a uint8 grey or BGR array zxing-cpp takes; (None, reason) when it cannot be one.

    A uint8 grey or BGR frame is returned as it is (so the first read is exactly zxing-cpp's); other dtypes are
    scaled into 0..255, BGRA loses its alpha, a single channel is squeezed.
    """
    try:
        array = np.asarray(frame)
    except (TypeError, ValueError) as exc:
        return None, f"not an image array: {exc}"
    if array.ndim == 3 and array.shape[2] in (1, 2):
        array = array[:, :, 0]
    elif array.ndim == 3 and array.shape[2] == 4:
        array = array[:, :, :3]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] != 3):
        return None, f"unsupported frame shape {array.shape}"
    if array.size == 0 or max(array.shape[:2]) > MAX_SIDE:
        return None, f"unsupported frame size {array.shape[1]}x{array.shape[0]}"
    if array.dtype != np.uint8:
        converted = _to_uint8(array)
        if converted is None:
            return None, f"unsupported frame dtype {array.dtype}"
        array = converted
    return np.ascontiguousarray(array), None


def _to_uint8(array: npt.NDArray[np.generic]) -> Image | None:
    if array.dtype == np.bool_:
        return array.astype(np.uint8) * 255
    if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        return None
    values = np.nan_to_num(array.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    top = float(values.max())
    if np.issubdtype(array.dtype, np.floating) and top <= 1.0:
        values = values * 255
    elif top > 255:
        values = values * (255 / top)
    return np.clip(values, 0, 255).astype(np.uint8)


class Decoder:
    """Reads the QR codes in frames, remembering where the last one was."""

    def __init__(
        self,
        options: DecoderOptions | None = None,
        *,
        steps: Sequence[Step] | None = None,
        timer: Callable[[], float] = time.perf_counter,
    ) -> None:
        """``steps`` replaces the fallbacks named in the options (tests inject counting engines this way)."""
        self.options = options or DecoderOptions()
        unknown = [name for name in self.options.fallbacks if name not in STEPS]
        if steps is None and unknown:
            raise ValueError(f"unknown fallback steps {unknown}; known: {sorted(STEPS)}")
        self.steps: tuple[Step, ...] = tuple(steps if steps is not None else (STEPS[n] for n in self.options.fallbacks))
        self.state = DecoderState()
        self._timer = timer

    def reset(self) -> None:
        """Forget the last code's region."""
        self.state = DecoderState()

    def decode(self, frame: object) -> DecodeResult:
        """Every QR code in ``frame`` (grey or BGR); an empty result, never an exception, for what cannot be read."""
        started = self._timer()
        image, problem = as_frame(frame)
        if image is None:
            return DecodeResult(elapsed_ms=self._since(started), error=problem)
        attempts: list[str] = []
        tagged: list[tuple[RawRead, str]] = []
        failed: list[Box] = []
        if self.options.track and self.state.region is not None:
            attempts.append("zxing-roi")
            tagged = [(r, "zxing-roi") for r in self._read_roi(image, self.state.region)]
        if not tagged:
            attempts.append("zxing")
            reads, failed = zxing_read(image, return_errors=True)
            tagged = [(r, "zxing") for r in reads]
        code_like = False
        if not tagged:
            candidates = self._candidates(image, failed)
            code_like = bool(candidates)
            tagged = self._fallbacks(image, candidates, attempts, started)
        self._remember([r for r, _ in tagged])
        return self._result(tagged, attempts, code_like=code_like, started=started)

    def _read_roi(self, image: Image, region: Box) -> list[RawRead]:
        height, width = image.shape[:2]
        box = region.grown(self.options.roi_margin, width, height)
        reads, _ = zxing_read(image[box.y0 : box.y1, box.x0 : box.x1])
        return [RawRead(r.text, tuple((x + box.x0, y + box.y0) for x, y in r.corners)) for r in reads]  # type: ignore[arg-type]

    def _candidates(self, image: Image, failed: list[Box]) -> list[Box]:
        """zxing-cpp's undecoded detections first, then the gate's regions they do not already cover."""
        height, width = image.shape[:2]
        margin = self.options.crop_margin
        candidates = [box.grown(margin, width, height) for box in failed]
        for box in code_like_regions(image, self.options.gate):
            grown = box.grown(self.options.gate_margin, width, height)
            if all(grown.covered_by(c) < SAME_REGION for c in candidates):
                candidates.append(grown)
        last = self.state.region
        if last is not None:  # where the last code was is the likeliest place for this one
            candidates.sort(key=lambda c: not c.overlaps(last))
        return [c for c in candidates if c.width > 0 and c.height > 0][: self.options.max_candidates]

    def _fallbacks(
        self, image: Image, candidates: list[Box], attempts: list[str], started: float
    ) -> list[tuple[RawRead, str]]:
        if not candidates or not self.steps:
            return []
        budget = self.options.fallback_budget_ms
        tagged: list[tuple[RawRead, str]] = []
        for box in candidates:
            crop = Crop.cut(image, box, self.options.crop_target_px)
            for step in self.steps:
                if budget is not None and self._since(started) > budget:
                    return tagged
                attempts.append(step.name)
                reads = step.run(crop)
                if reads:
                    tagged += [(r, step.name) for r in reads]
                    break
            if tagged and self.options.stop_at_first:
                break
        return tagged

    def _remember(self, reads: list[RawRead]) -> None:
        if reads:
            boxes = [box_of(r.corners) for r in reads]
            self.state = DecoderState(
                Box(min(b.x0 for b in boxes), min(b.y0 for b in boxes), max(b.x1 for b in boxes),
                    max(b.y1 for b in boxes)),
            )  # fmt: skip
        elif self.state.region is not None:
            self.state.misses += 1
            if self.state.misses >= self.options.roi_patience:
                self.state = DecoderState()

    def _result(
        self, tagged: list[tuple[RawRead, str]], attempts: list[str], *, code_like: bool, started: float
    ) -> DecodeResult:
        unique: dict[str, tuple[RawRead, str]] = {}
        for read, engine in tagged:
            unique.setdefault(read.text, (read, engine))
        return DecodeResult(
            texts=tuple(unique),
            regions=tuple(r.corners for r, _ in unique.values()),
            engines=tuple(e for _, e in unique.values()),
            elapsed_ms=self._since(started),
            attempts=tuple(attempts),
            code_like=code_like,
        )

    def _since(self, started: float) -> float:
        return (self._timer() - started) * 1000.0


def decode_once(frame: object, options: DecoderOptions | None = None) -> DecodeResult:
    """Decode one frame with a fresh decoder (no region remembered): for files and one-off checks."""
    return Decoder(options or DecoderOptions(track=False)).decode(frame)
