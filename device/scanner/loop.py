"""The scan loop: frame -> codes -> one decision per presentation -> light and gate -> event committed.

Latency is measured from the frame's capture time to the indicator call, on the monotonic clock the camera stamps
frames with. The light comes first; the event is committed right after (see ``device/store.py`` for durability).
A light or gate that fails, or a store that is full, is counted and reported; the loop keeps deciding.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from device.clock import ClockTrust
from device.metrics import DeviceMetrics
from device.scanner.presentation import PresentationTracker
from device.scanner.verifier import Verifier
from device.signal.base import Gate, Indicator, SignalError
from device.store import DeviceStore, ScanEvent
from protocol.decision import Verdict
from protocol.reasons import Decision

log = logging.getLogger(__name__)

IDLE_WAIT_S = 0.005
"""How long the loop waits when the camera has no frame ready."""
SIGNAL_HOLD_S = 2.0
"""The light shows a decision this long before returning to rest (unless the next person comes first)."""


class FrameLike(Protocol):
    """What the loop needs of a camera frame."""

    @property
    def image(self) -> Any:  # noqa: ANN401 - a numpy array of any shape the decoder takes
        """The pixels."""

    @property
    def captured_at(self) -> float:
        """Monotonic seconds at capture."""


class CameraLike(Protocol):
    """A frame source."""

    def read(self) -> FrameLike | None:
        """The next frame, or None when none is ready."""


class DecodeLike(Protocol):
    """What the loop needs of a decode result."""

    @property
    def texts(self) -> Sequence[str]:
        """Texts of the codes found."""


class DecoderLike(Protocol):
    """Frame in, codes out."""

    def decode(self, image: Any) -> DecodeLike:  # noqa: ANN401
        """Decode the codes in an image."""


@dataclass(frozen=True, slots=True)
class ScanOutcome:
    """What one presentation led to."""

    verdict: Verdict
    seq: int | None
    """The event's sequence number, or None when it could not be stored."""
    latency_ms: float


class ScanLoop:
    """Runs the scan path; every part comes in from the composition root."""

    def __init__(
        self,
        *,
        camera: CameraLike,
        decoder: DecoderLike,
        verifier: Verifier,
        indicator: Indicator,
        gate: Gate | None,
        store: DeviceStore,
        boot_id: str,
        clock: ClockTrust,
        metrics: DeviceMetrics,
        hold_off_s: float,
        gate_open_ms: int,
        on_outcome: Callable[[ScanOutcome], None] | None = None,
    ) -> None:
        self.camera = camera
        self.decoder = decoder
        self.verifier = verifier
        self.indicator = indicator
        self.gate = gate
        self.store = store
        self.boot_id = boot_id
        self.clock = clock
        self.metrics = metrics
        self.gate_open_ms = gate_open_ms
        self.tracker = PresentationTracker(hold_off_s)
        self.on_outcome = on_outcome
        self._shown_at: float | None = None
        self.last_outcome: ScanOutcome | None = None

    def step(self) -> list[ScanOutcome] | None:
        """Process one frame; None when the camera had none ready."""
        frame = self.camera.read()
        mono = self.clock.clock.monotonic()
        if frame is None:
            self._rest_if_due(mono)
            return None
        self.metrics.frames.inc()
        result = self.decoder.decode(frame.image)
        outcomes = []
        for text in result.texts:
            self.metrics.decoded.inc()
            if self.tracker.is_new(text, frame.captured_at):
                outcomes.append(self._decide(text, frame.captured_at))
        if not outcomes:
            self._rest_if_due(mono)
        return outcomes

    def _decide(self, text: str, captured_at: float) -> ScanOutcome:
        verdict = self.verifier.decide(text)
        latency_s = self.clock.clock.monotonic() - captured_at
        try:
            self.indicator.show(verdict.decision)
        except SignalError as exc:
            self.metrics.signal_errors.labels("indicator").inc()
            log.warning("indicator failed: %s", exc)
        self._shown_at = self.clock.clock.monotonic()
        if verdict.decision is Decision.PASS and self.gate is not None:
            try:
                self.gate.open_for(self.gate_open_ms)
            except SignalError as exc:
                self.metrics.signal_errors.labels("gate").inc()
                log.warning("gate failed: %s", exc)
        self.metrics.latency.observe(latency_s)
        self.metrics.decisions.labels(verdict.decision.value, verdict.reason.value).inc()
        event = ScanEvent(
            at=self.clock.now(),
            time_source=self.clock.source().value,
            decision=verdict.decision.value,
            reason=verdict.reason.value,
            kind=verdict.kind,
            iss=verdict.iss,
            status=verdict.status,
            rid=verdict.rid.hex() if verdict.rid else None,
            latency_ms=round(latency_s * 1000, 3),
        )
        seq = self.store.record_event(self.boot_id, event)
        if seq is None:
            self.metrics.unstored.inc()
        log.info("decision %s (%s) seq=%s latency=%.1fms", verdict.decision, verdict.reason, seq, latency_s * 1000)
        outcome = ScanOutcome(verdict, seq, latency_s * 1000)
        self.last_outcome = outcome
        if self.on_outcome is not None:
            self.on_outcome(outcome)
        return outcome

    def _rest_if_due(self, mono: float) -> None:
        if self._shown_at is not None and mono - self._shown_at >= SIGNAL_HOLD_S:
            self._shown_at = None
            try:
                self.indicator.idle()
            except SignalError as exc:
                self.metrics.signal_errors.labels("indicator").inc()
                log.warning("indicator failed: %s", exc)

    def run(self, stop: threading.Event) -> None:
        """Loop until ``stop`` is set; waits briefly only when no frame was ready."""
        while not stop.is_set():
            if self.step() is None:
                stop.wait(IDLE_WAIT_S)
