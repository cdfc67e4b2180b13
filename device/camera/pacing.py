"""Real-time pacing of a rendered feed (the synthetic and scene cameras): which frame is due at a given time."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Due:
    """What a paced read does next: wait ``wait_s`` for frame ``index``, having skipped ``dropped`` late frames."""

    index: int
    wait_s: float
    dropped: int


def due(now: float, started: float, next_index: int, fps: float) -> Due:
    """The frame to render at ``now`` for a feed started at ``started``: the next one, after a wait when it is not
    due yet; or, when the reader fell behind, the one due now (the frames in between are dropped, as a camera does)."""
    current = math.floor((now - started) * fps + 1e-9)
    if current < next_index:
        return Due(next_index, started + next_index / fps - now, 0)
    return Due(current, 0.0, current - next_index)
