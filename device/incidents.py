"""Filing an incident on the handheld: category, note, photos, position and grid cell, committed to the store first.

Everything that comes in is bounded and checked before the store sees it: the category must be one of the config's
(which always include ``public_complaint``), the note is limited, each photo must be a JPEG within the byte and pixel
limits that really decodes. The position is the GPS reader's newest fix, or none (filed without a position, said as
such); the grid cell is computed from it against the config's cells (``""`` outside them all or without a position).
The store commits record and photos in one transaction (then the outbox syncs it like every other stream); when it
cannot (a full disk), the worker is told and nothing stored before is touched. A refusal carries a reason code and is
counted.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import cv2
import numpy as np
import numpy.typing as npt

from device.clock import TimeSource
from device.gps.base import Fix
from device.grid import GridCell, cell_at
from device.store import (
    ImageFormatError,
    ImageTooLargeError,
    IncidentDraft,
    IncidentError,
    StoreError,
    StoreFullError,
)

log = logging.getLogger(__name__)

JPEG_QUALITY = 85
"""Quality of photos taken from the camera."""
_SOF_MARKERS = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})


class IncidentRefusedError(Exception):
    """An incident or photo refused (by us or the store): ``reason`` is a short code, the message is for the worker."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class IncidentLimits:
    """What the config allows."""

    categories: tuple[str, ...]
    note_max_chars: int = 1000
    photo_max_bytes: int = 4 * 2**20
    photo_max_side: int = 4096
    photo_max_count: int = 4


@dataclass(frozen=True, slots=True)
class FiledIncident:
    """What the worker is shown after filing."""

    seq: int
    at: float
    time_source: str
    category: str
    position: Fix | None
    grid_cell: str
    photos: int


class IncidentStore(Protocol):
    """The part of :class:`device.store.DeviceStore` that files incidents."""

    def add_incident(self, draft: IncidentDraft, photos: Sequence[bytes]) -> int:
        """Commit the incident and its photos; the ``incidents`` sequence number."""


class TrustedTime(Protocol):
    """The terminal's time and where it came from (:class:`device.clock.ClockTrust`)."""

    def now(self) -> float:
        """Unix seconds."""

    def source(self) -> TimeSource:
        """hub, ntp or untrusted."""


class FrameSource(Protocol):
    """The newest camera frame, for "take photo"."""

    def latest_image(self) -> npt.NDArray[np.uint8] | None:
        """Grey or BGR pixels of the newest frame, or None when the camera has given none lately."""


def jpeg_dimensions(data: bytes) -> tuple[int, int]:
    """(width, height) from a JPEG's frame header, read without decoding; :class:`IncidentRefusedError` otherwise."""
    if not data.startswith(b"\xff\xd8"):
        raise IncidentRefusedError("photo_not_jpeg", "the photo is not a JPEG")
    index = 2
    size = len(data)
    while index + 4 <= size:
        if data[index] != 0xFF:
            raise IncidentRefusedError("photo_not_jpeg", "the photo's JPEG headers are damaged")
        marker = data[index + 1]
        if marker == 0xFF:  # fill byte
            index += 1
            continue
        if marker in _STANDALONE:
            index += 2
            continue
        length = int.from_bytes(data[index + 2 : index + 4], "big")
        if length < 2:
            raise IncidentRefusedError("photo_not_jpeg", "the photo's JPEG headers are damaged")
        if marker in _SOF_MARKERS:
            if index + 9 > size:
                break
            height = int.from_bytes(data[index + 5 : index + 7], "big")
            width = int.from_bytes(data[index + 7 : index + 9], "big")
            if not width or not height:
                raise IncidentRefusedError("photo_not_jpeg", "the photo has no size")
            return width, height
        if marker in (0xD9, 0xDA):  # end of image or start of scan before any frame header
            break
        index += 2 + length
    raise IncidentRefusedError("photo_not_jpeg", "the photo is not a complete JPEG")


def check_photo(data: bytes, limits: IncidentLimits) -> bytes:
    """The JPEG bytes, unchanged, when within the limits and decodable; :class:`IncidentRefusedError` otherwise."""
    if not data:
        raise IncidentRefusedError("photo_empty", "the photo is empty")
    if len(data) > limits.photo_max_bytes:
        raise IncidentRefusedError(
            "photo_too_large",
            f"the photo is {len(data) // 1024} KiB; at most {limits.photo_max_bytes // 1024} KiB: take it smaller",
        )
    width, height = jpeg_dimensions(data)
    if max(width, height) > limits.photo_max_side:
        raise IncidentRefusedError(
            "photo_too_large", f"the photo is {width}x{height} pixels; at most {limits.photo_max_side} on a side"
        )
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_REDUCED_GRAYSCALE_8)
    if image is None or image.size == 0:
        raise IncidentRefusedError("photo_not_jpeg", "the photo does not decode as a JPEG")
    return data


def encode_frame(image: npt.NDArray[np.uint8], max_side: int) -> bytes:
    """A camera frame as JPEG, scaled down to ``max_side`` when larger."""
    height, width = image.shape[:2]
    if max(height, width) > max_side:
        scale = max_side / max(height, width)
        size = (max(1, int(width * scale)), max(1, int(height * scale)))
        scaled: npt.NDArray[Any] = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    else:
        scaled = image
    ok, buffer = cv2.imencode(".jpg", scaled, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise IncidentRefusedError("camera", "the camera frame could not be encoded")
    return bytes(buffer)


class IncidentDesk:
    """Files incidents; safe to call from the web server's threads (one store connection, used under a lock)."""

    def __init__(
        self,
        *,
        store: IncidentStore,
        clock: TrustedTime,
        position: Callable[[], Fix | None],
        cells: Sequence[GridCell],
        limits: IncidentLimits,
        frames: FrameSource | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.position = position
        self.cells = tuple(cells)
        self.limits = limits
        self.frames = frames
        self.refused: Counter[str] = Counter()
        self.filed = 0
        self.last_problem = ""
        """The last storage failure, for the status ("" once an incident was stored again)."""
        self._lock = threading.Lock()

    def _refuse(self, reason: str, message: str) -> IncidentRefusedError:
        self.refused[reason] += 1
        log.info("incident refused: %s", reason)
        return IncidentRefusedError(reason, message)

    def capture(self) -> bytes:
        """A photo from the camera's newest frame, as JPEG (the page attaches it to the incident it files)."""
        image = self.frames.latest_image() if self.frames is not None else None
        if image is None:
            raise self._refuse("camera", "the camera has no picture right now: try again, or attach a file")
        return encode_frame(image, self.limits.photo_max_side)

    def file(self, category: str, note: str, photos: Sequence[bytes]) -> FiledIncident:
        """Check, place and commit one incident; :class:`IncidentRefusedError` says why not."""
        limits = self.limits
        if category not in limits.categories:
            raise self._refuse("unknown_category", "choose one of the categories shown")
        note = note.strip()
        if len(note) > limits.note_max_chars:
            raise self._refuse("note_too_long", f"the note is longer than {limits.note_max_chars} characters")
        if len(photos) > limits.photo_max_count:
            raise self._refuse("too_many_photos", f"at most {limits.photo_max_count} photos per incident")
        try:
            checked = [check_photo(photo, limits) for photo in photos]
        except IncidentRefusedError as exc:
            self.refused[exc.reason] += 1
            raise
        fix = self.position()
        grid_cell = cell_at(self.cells, fix.lat, fix.lon) if fix is not None else ""
        draft = IncidentDraft(
            at=self.clock.now(),
            time_source=self.clock.source().value,
            category=category,
            note=note,
            lat=fix.lat if fix is not None else None,
            lon=fix.lon if fix is not None else None,
            accuracy_m=fix.accuracy_m if fix is not None else None,
            grid_cell=grid_cell,
        )
        with self._lock:
            try:
                seq = self.store.add_incident(draft, checked)
            except StoreFullError as exc:
                self.last_problem = f"incidents: {exc}"
                raise self._refuse("storage_full", "storage is full: the incident was NOT saved") from exc
            except ImageTooLargeError as exc:
                raise self._refuse("photo_too_large", str(exc)) from exc
            except ImageFormatError as exc:
                raise self._refuse("photo_not_jpeg", str(exc)) from exc
            except IncidentError as exc:
                raise self._refuse("refused", str(exc)) from exc
            except StoreError as exc:
                self.last_problem = f"incidents: {exc}"
                raise self._refuse("storage", f"the incident was NOT saved: {exc}") from exc
            self.filed += 1
            self.last_problem = ""
        log.info("incident %d filed (%s, %d photos, grid cell %s)", seq, category, len(checked), grid_cell or "-")
        return FiledIncident(seq, draft.at, draft.time_source, category, fix, grid_cell, len(checked))
