"""The camera terminal's loop: frames from the camera, motion, the policy, a JPEG, the store; retention on a schedule.

:meth:`SnapshotService.step` handles one frame (or one moment without a frame) and never raises for what the outside
world does: a camera that fails or stops delivering frames is closed and reopened with a growing back-off; a store
that refuses a snapshot (disk full) is counted and the loop goes on; a budget that cannot be kept because the hub has
not confirmed enough snapshots raises the pressure flag. Everything wrong is in :meth:`SnapshotService.status` and
:meth:`SnapshotService.problems`.

The store is only touched from the thread that calls ``step`` (it owns the store's connection).
:meth:`SnapshotService.trigger` is the one method other threads call (hub commands on the sync thread).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from device.camera.base import Camera, CameraError, Frame
from device.clock import TimeSource
from device.config import SnapshotsSection
from device.snapshots.encode import EncodeError, encode_jpeg
from device.snapshots.motion import MotionDetector, MotionResult, MotionSettings
from device.snapshots.policy import (
    COMMAND,
    DECISION,
    MOTION,
    PERIODIC,
    PolicyError,
    PolicySettings,
    PolicyState,
    Take,
    decide,
    parse_trigger,
)
from device.store import ImageBudget, ImageError, RetentionResult, SnapshotMeta, StoreError, StoreFullError
from device.vision.images import Image

log = logging.getLogger(__name__)

REOPEN_MIN_S = 1.0
"""First wait before reopening a camera that failed or stalled; it doubles on every failure in a row."""
REOPEN_MAX_S = 60.0
"""Longest wait between two attempts to reopen the camera."""
MAX_PENDING_TRIGGERS = 64
"""Triggers queued between two frames at most; more are refused (a flood of commands cannot grow memory)."""
IDLE_WAIT_S = 0.005
"""How long :meth:`SnapshotService.run` waits when there was no frame."""


class SnapshotStore(Protocol):
    """What the service needs of the terminal's store."""

    def add_snapshot(self, meta: SnapshotMeta, jpeg: bytes) -> int:
        """Commit a snapshot and its image; its sequence number. StoreFullError when storage failed."""

    def prune_snapshots(self, budget: ImageBudget, now: float) -> RetentionResult:
        """Remove confirmed snapshots past the budget; whether what is left is still over it."""


class TrustedTime(Protocol):
    """Wall time and where it came from (the terminal's :class:`~device.clock.ClockTrust`)."""

    def now(self) -> float:
        """Unix seconds."""

    def source(self) -> TimeSource:
        """Where the time comes from: hub, NTP or untrusted."""


@dataclass(frozen=True, slots=True)
class SnapshotSettings:
    """The service's own settings (the policy and the detector have theirs)."""

    camera: str = "main"
    jpeg_quality: int = 80
    max_width: int = 1280
    budget: ImageBudget = field(default_factory=lambda: ImageBudget(256 * 2**20, 5000, 14 * 86400.0))
    stall_s: float = 10.0
    prune_every_s: float = 60.0
    on_decision: frozenset[str] = frozenset({"invalid", "revoked"})
    """Decisions or reasons of a scanner at this checkpoint that take a snapshot."""


@dataclass(frozen=True, slots=True)
class Parts:
    """Everything a ``[snapshots]`` section sets."""

    settings: SnapshotSettings
    policy: PolicySettings
    motion: MotionSettings


def from_section(section: SnapshotsSection) -> Parts:
    """The service's, the policy's and the detector's settings from a validated config section."""
    motion = section.motion
    return Parts(
        SnapshotSettings(
            camera=section.camera,
            jpeg_quality=section.jpeg_quality,
            max_width=section.max_width,
            budget=ImageBudget(section.budget.max_bytes, section.budget.max_count, section.budget.max_age_days * 86400),
            stall_s=section.stall_s,
            prune_every_s=section.prune_every_s,
            on_decision=frozenset(str(item) for item in section.triggers.on_decision),
        ),
        PolicySettings(
            periodic_s=section.periodic_s,
            motion=motion.enabled,
            motion_min_interval_s=motion.min_interval_s,
            triggers=True,
            trigger_min_interval_s=section.triggers.min_interval_s,
        ),
        MotionSettings(
            threshold=motion.threshold,
            min_area=motion.min_area,
            analysis_width=motion.analysis_width,
            mask=tuple(tuple(polygon) for polygon in motion.mask),
        ),
    )


@dataclass(frozen=True, slots=True)
class StepResult:
    """What one frame led to."""

    motion: MotionResult | None
    """None when motion detection is off."""
    take: Take | None
    seq: int | None = None
    """The stored snapshot's sequence number; None when none was taken or the store refused it."""


@dataclass(frozen=True, slots=True)
class LastSnapshot:
    """The newest snapshot stored."""

    seq: int
    at: float
    trigger: str
    size: int


@dataclass
class Counters:
    """What happened since start (read by the status)."""

    frames: int = 0
    motion_frames: int = 0
    lighting_changes: int = 0
    taken: dict[str, int] = field(default_factory=lambda: dict.fromkeys((COMMAND, DECISION, MOTION, PERIODIC), 0))
    triggers_suppressed: int = 0
    triggers_refused: int = 0
    unstored: int = 0
    """Snapshots the store could not keep (disk full or failing)."""
    refused_images: int = 0
    """Snapshots the encoder or the store refused as images."""
    camera_losses: int = 0
    reopen_failures: int = 0
    pruned: int = 0
    prune_errors: int = 0
    pressure_passes: int = 0
    """Retention passes that ended with the budget still exceeded."""


class SnapshotService:
    """Frames in, snapshots into the store; see the module docstring."""

    def __init__(
        self,
        *,
        camera_factory: Callable[[], Camera],
        store: SnapshotStore,
        time: TrustedTime,
        monotonic: Callable[[], float],
        parts: Parts | None = None,
        camera: Camera | None = None,
    ) -> None:
        """``camera`` is an already opened camera (else the first step opens one with ``camera_factory``)."""
        self.parts = parts or Parts(SnapshotSettings(), PolicySettings(), MotionSettings())
        self.settings = self.parts.settings
        self.camera = camera
        self._factory = camera_factory
        self.store = store
        self._time = time
        self._monotonic = monotonic
        self.detector = MotionDetector(self.parts.motion)
        self.counters = Counters()
        self.policy_state = PolicyState()
        self.last_snapshot: LastSnapshot | None = None
        self.last_motion: MotionResult | None = None
        self.pressure = False
        self.camera_error: str | None = None
        self._lock = threading.Lock()
        self._pending: list[str] = []
        self._last_trigger_detail: str | None = None
        start = monotonic()
        self._last_frame_at = start
        self._reopen_at = start
        self._backoff_s = REOPEN_MIN_S
        self._prune_at = start
        self._prune_now = False

    # --- other threads ------------------------------------------------------------------------------------------

    def trigger(self, reason: str) -> bool:
        """Ask for a snapshot: ``"command <id>"`` or ``"decision <reason>"``. Thread-safe; False when refused."""
        try:
            parsed = parse_trigger(reason)
        except PolicyError as exc:
            with self._lock:
                self.counters.triggers_refused += 1
            log.warning("snapshot trigger refused: %s", exc)
            return False
        with self._lock:
            if len(self._pending) >= MAX_PENDING_TRIGGERS:
                self.counters.triggers_refused += 1
                return False
            self._pending.append(parsed.kind)
            self._last_trigger_detail = f"{parsed.kind} {parsed.detail}".strip()
        log.info("snapshot asked for: %s", self._last_trigger_detail)
        return True

    def on_decision(self, decision: str, reason: str) -> bool:
        """A scanner's decision at this checkpoint: a snapshot when its decision or reason is configured."""
        if decision in self.settings.on_decision or reason in self.settings.on_decision:
            return self.trigger(f"{DECISION} {reason}")
        return False

    # --- the loop's thread ------------------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Step until ``stop`` is set, then close the camera."""
        try:
            while not stop.is_set():
                if self.step() is None:
                    stop.wait(IDLE_WAIT_S)
        finally:
            self.close()

    def step(self) -> StepResult | None:
        """One frame through motion, policy, encoder and store; None when there was no frame to handle."""
        now = self._monotonic()
        if self._prune_now or now >= self._prune_at:
            self.prune(now)
        frame = self._read(now)
        if frame is None:
            return None
        self.counters.frames += 1
        motion: MotionResult | None = None
        if self.parts.policy.motion:
            motion = self.detector.detect(frame.image)
            self.last_motion = motion
            self.counters.motion_frames += motion.motion
            self.counters.lighting_changes += motion.lighting_change
        with self._lock:
            pending, self._pending = self._pending, []
        outcome = decide(
            self.parts.policy, self.policy_state, now, motion=motion is not None and motion.motion, triggers=pending
        )
        self.policy_state = outcome.state
        self.counters.triggers_suppressed += len(outcome.suppressed)
        if outcome.take is None:
            return StepResult(motion, None)
        return StepResult(motion, outcome.take, self._store(frame.image, outcome.take))

    def _store(self, image: Image, take: Take) -> int | None:
        try:
            encoded = encode_jpeg(image, quality=self.settings.jpeg_quality, max_width=self.settings.max_width)
        except EncodeError as exc:
            self.counters.refused_images += 1
            log.warning("snapshot not encoded: %s", exc)
            return None
        at = self._time.now()
        meta = SnapshotMeta(
            at=at,
            time_source=self._time.source().value,
            camera=self.settings.camera,
            trigger=take.trigger,
            width=encoded.width,
            height=encoded.height,
        )
        try:
            seq = self.store.add_snapshot(meta, encoded.jpeg)
        except StoreFullError as exc:
            self.counters.unstored += 1
            self._prune_now = True  # make room from what the hub already confirmed, then go on
            log.warning("snapshot not stored: %s", exc)
            return None
        except ImageError as exc:
            self.counters.refused_images += 1
            log.warning("snapshot refused by the store: %s", exc)
            return None
        self.counters.taken[take.trigger] += 1
        self.last_snapshot = LastSnapshot(seq, at, take.trigger, encoded.size)
        log.debug("snapshot %d stored (%s, %d bytes)", seq, take.trigger, encoded.size)
        return seq

    def prune(self, now: float | None = None) -> RetentionResult | None:
        """Apply the retention budget now (``now`` monotonic); None when the store could not do it."""
        mono = self._monotonic() if now is None else now
        self._prune_at = mono + self.settings.prune_every_s
        self._prune_now = False
        try:
            result = self.store.prune_snapshots(self.settings.budget, self._time.now())
        except (sqlite3.OperationalError, StoreError) as exc:
            self.counters.prune_errors += 1
            log.warning("snapshot retention not applied: %s", exc)
            return None
        self.counters.pruned += result.removed
        self.pressure = result.pressure
        self.counters.pressure_passes += result.pressure
        return result

    # --- the camera -------------------------------------------------------------------------------------------

    def _read(self, now: float) -> Frame | None:
        if self.camera is None and not self._open(now):
            return None
        camera = self.camera
        if camera is None:  # pragma: no cover - _open set it
            return None
        try:
            frame = camera.read()
        except CameraError as exc:
            self._lose_camera(now, str(exc))
            return None
        if frame is None:
            if now - self._last_frame_at >= self.settings.stall_s:
                self._lose_camera(now, f"no frame for {self.settings.stall_s:.0f} s")
            return None
        self._last_frame_at = now
        if self.camera_error is not None:
            log.info("camera delivers frames again")
        self.camera_error = None
        self._backoff_s = REOPEN_MIN_S
        return frame

    def _open(self, now: float) -> bool:
        if now < self._reopen_at:
            return False
        try:
            self.camera = self._factory()
        except CameraError as exc:
            self.counters.reopen_failures += 1
            self._schedule_reopen(now, f"cannot reopen: {exc}")
            return False
        self.detector.reset()  # the view may have changed while the camera was away
        self._last_frame_at = now  # the stall clock starts again with the new camera
        return True

    def _lose_camera(self, now: float, why: str) -> None:
        self.counters.camera_losses += 1
        self.close()
        self._schedule_reopen(now, why)

    def _schedule_reopen(self, now: float, why: str) -> None:
        self.camera_error = why
        self._reopen_at = now + self._backoff_s
        log.warning("camera: %s; reopening in %.0f s", why, self._backoff_s)
        self._backoff_s = min(self._backoff_s * 2, REOPEN_MAX_S)

    def close(self) -> None:
        """Close the camera (the service reopens one on its next step)."""
        camera, self.camera = self.camera, None
        if camera is None:
            return
        try:
            camera.close()
        except CameraError as exc:
            log.warning("closing the camera: %s", exc)

    # --- status -----------------------------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """A JSON-ready status section."""
        now = self._monotonic()
        with self._lock:
            pending = len(self._pending)
            last_trigger = self._last_trigger_detail
            refused = self.counters.triggers_refused
        c = self.counters
        last = self.last_snapshot
        return {
            "camera": {
                "name": self.settings.camera,
                "state": "ok" if self.camera_error is None else "stalled",
                "error": self.camera_error,
                "last_frame_age_s": round(now - self._last_frame_at, 3),
                "frames": c.frames,
                "losses": c.camera_losses,
                "reopen_failures": c.reopen_failures,
            },
            "motion": {
                "frames_with_motion": c.motion_frames,
                "lighting_changes": c.lighting_changes,
                "last_changed_fraction": None if self.last_motion is None else self.last_motion.changed_fraction,
            },
            "taken": dict(c.taken),
            "last_snapshot": None
            if last is None
            else {"seq": last.seq, "at": last.at, "trigger": last.trigger, "bytes": last.size},
            "triggers": {
                "pending": pending,
                "suppressed": c.triggers_suppressed,
                "refused": refused,
                "last": last_trigger,
            },
            "unstored": c.unstored,
            "refused_images": c.refused_images,
            "budget": {
                "pressure": self.pressure,
                "pressure_passes": c.pressure_passes,
                "pruned": c.pruned,
                "prune_errors": c.prune_errors,
                "max_bytes": self.settings.budget.max_bytes,
                "max_count": self.settings.budget.max_count,
                "max_age_s": self.settings.budget.max_age_s,
            },
        }

    def problems(self) -> list[str]:
        """What an operator should look at, one line each (empty when all is well)."""
        found = []
        if self.camera_error is not None:
            found.append(f"camera: {self.camera_error}")
        if self.pressure:
            found.append("snapshots: unconfirmed snapshots exceed the retention budget (is the hub reachable?)")
        if self.counters.unstored:
            found.append(f"snapshots: {self.counters.unstored} could not be stored (disk full?)")
        return found
