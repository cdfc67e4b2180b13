"""The last scan result, as the handheld's screen shows it: colour, a word, the reason in plain words; no personal data.

The scan loop hands each outcome to :meth:`LastScan.publish` (its ``on_outcome`` hook, on the loop's thread); the
page reads :meth:`LastScan.view` (web threads). A version number lets the page redraw only on a new scan.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass

from device.scanner.loop import ScanOutcome
from protocol.reasons import Decision, Reason

COLOURS = {Decision.PASS: "green", Decision.CHECK: "yellow", Decision.DENY: "red", Decision.INVALID: "red"}
HEADLINES = {Decision.PASS: "PASS", Decision.CHECK: "CHECK", Decision.DENY: "DENIED", Decision.INVALID: "NOT VALID"}
REASON_TEXT = {
    Reason.OK: "Valid green pass",
    Reason.STATUS_YELLOW: "Yellow pass: look twice",
    Reason.LISTS_STALE: "Lists out of date: check by hand",
    Reason.STATUS_RED: "Red pass",
    Reason.REVOKED: "Pass revoked",
    Reason.EXPIRED: "Pass expired",
    Reason.NOT_YET_VALID: "Pass not valid yet",
    Reason.CLOCK_UNSYNCED: "Terminal clock not trusted",
    Reason.BAD_PREFIX: "Not a health pass",
    Reason.BAD_BASE45: "Damaged code",
    Reason.BAD_ZLIB: "Damaged code",
    Reason.TOO_LARGE: "Code too large",
    Reason.BAD_COSE: "Damaged pass",
    Reason.BAD_CBOR: "Damaged pass",
    Reason.UNKNOWN_KID: "Unknown issuer",
    Reason.BAD_SIGNATURE: "Forged or altered pass",
    Reason.UNTRUSTED_ISSUER: "Issuer not trusted for this pass",
    Reason.UNSUPPORTED_ALG: "Unsupported signature",
}


@dataclass(frozen=True, slots=True)
class ScanView:
    """What the screen shows of one decision."""

    version: int
    colour: str
    """green, yellow, red, or grey when nothing was scanned yet."""
    headline: str
    reason: str
    """The machine reason (spec's word)."""
    reason_text: str
    at: float | None
    stored: bool
    """Whether the event is in the store (False: storage failed, the status says so)."""

    def as_dict(self) -> dict[str, object]:
        """JSON-ready."""
        return asdict(self)


IDLE = ScanView(0, "grey", "READY", "", "Show a pass to the camera", None, stored=True)


class LastScan:
    """Holds the newest :class:`ScanView`."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._view = IDLE

    def show(self, decision: Decision, reason: Reason, *, stored: bool) -> None:
        """A new decision."""
        with self._lock:
            self._view = ScanView(
                self._view.version + 1, COLOURS[decision], HEADLINES[decision], reason.value,
                REASON_TEXT.get(reason, reason.value), self.clock(), stored,
            )  # fmt: skip

    def publish(self, outcome: ScanOutcome) -> None:
        """The scan loop's ``on_outcome`` hook."""
        self.show(outcome.verdict.decision, outcome.verdict.reason, stored=outcome.seq is not None)

    def view(self) -> ScanView:
        """The newest view."""
        with self._lock:
            return self._view
