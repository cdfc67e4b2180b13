"""One decision per presentation of a code.

A code held in front of the camera for two seconds is seen in dozens of frames but is one scan; the same code shown
again after the hold-off is a new one. Codes are tracked by a hash of their text, never the text itself.
"""

from __future__ import annotations

import hashlib

MAX_TRACKED = 4096
"""Bound on codes remembered at once; a flood of distinct codes forgets the oldest."""


class PresentationTracker:
    """Decides whether a code seen in a frame starts a new presentation. Pure: time is passed in."""

    def __init__(self, hold_off_s: float) -> None:
        self.hold_off_s = hold_off_s
        self._last_seen: dict[bytes, float] = {}

    def is_new(self, text: str, now: float) -> bool:
        """True for the first frame of a presentation; every sighting extends the presentation it belongs to."""
        key = hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()[:16]
        last = self._last_seen.pop(key, None)
        self._last_seen[key] = now
        if len(self._last_seen) > MAX_TRACKED:
            self._forget(now)
        return last is None or now - last > self.hold_off_s

    def _forget(self, now: float) -> None:
        for key, seen in list(self._last_seen.items()):
            if now - seen > self.hold_off_s or len(self._last_seen) > MAX_TRACKED:
                del self._last_seen[key]
