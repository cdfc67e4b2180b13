"""When to take a snapshot, and why: pure arithmetic on monotonic seconds (no clock of its own).

Three policies, each on or off and freely combined:

- *periodic*: a snapshot whenever none of any kind was taken for ``periodic_s``;
- *motion*: a snapshot when the frame shows motion and the last motion snapshot is ``motion_min_interval_s`` old;
- *trigger*: a snapshot for a hub command or a scanner decision, at most one per ``trigger_min_interval_s``;
  triggers that arrive sooner are dropped (counted as suppressed): the snapshot just taken shows the scene.

One frame gives at most one snapshot. Its trigger is the first that applies of command, decision, motion and periodic;
every policy that applied counts the snapshot as its own (a motion snapshot also resets the periodic interval).
Triggers are given as their kinds (``command``, ``decision``); :func:`parse_trigger` reads them from text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

PERIODIC = "periodic"
MOTION = "motion"
COMMAND = "command"
DECISION = "decision"
TRIGGER_KINDS = (COMMAND, DECISION)
"""The kinds of trigger (the record's ``trigger`` field takes these, ``motion`` and ``periodic``)."""
MAX_DETAIL_CHARS = 80
_NOT_PLAIN = re.compile(r"[^A-Za-z0-9 _.:/#@+-]")


class PolicyError(ValueError):
    """Settings or a trigger the policy refuses."""


@dataclass(frozen=True, slots=True)
class Trigger:
    """A request for a snapshot from outside the camera: its kind, and a detail for the log and the status."""

    kind: str
    """``command`` (from the hub) or ``decision`` (a scanner's decision at this checkpoint)."""
    detail: str = ""
    """E.g. the command id, or the decision's reason: plain characters only (others become ``_``), at most 80."""


def parse_trigger(text: str) -> Trigger:
    """``"<kind>[ <detail>]"`` as a Trigger (the detail made plain and cut to length); PolicyError for a kind
    other than ``command`` or ``decision``."""
    kind, _, detail = text.strip().partition(" ")
    if kind not in TRIGGER_KINDS:
        raise PolicyError(f"a trigger starts with one of {', '.join(TRIGGER_KINDS)}, not {kind[:40]!r}")
    return Trigger(kind, _NOT_PLAIN.sub("_", detail.strip()[:MAX_DETAIL_CHARS]))


@dataclass(frozen=True, slots=True)
class PolicySettings:
    """Which policies are on, and their intervals in seconds."""

    periodic_s: float = 0.0
    """0 turns the periodic policy off."""
    motion: bool = True
    motion_min_interval_s: float = 5.0
    triggers: bool = True
    trigger_min_interval_s: float = 2.0

    def __post_init__(self) -> None:
        """Refuse negative intervals."""
        if min(self.periodic_s, self.motion_min_interval_s, self.trigger_min_interval_s) < 0:
            raise PolicyError("intervals must not be negative")


@dataclass(frozen=True, slots=True)
class PolicyState:
    """When each policy last had a snapshot (monotonic seconds; None: never)."""

    last_any: float | None = None
    last_motion: float | None = None
    last_trigger: float | None = None
    started: float | None = None
    """The first moment the policy was asked (the periodic interval counts from here until a first snapshot)."""


@dataclass(frozen=True, slots=True)
class Take:
    """Take a snapshot now."""

    trigger: str
    """The first kind that applied: ``command``, ``decision``, ``motion`` or ``periodic``."""
    reasons: tuple[str, ...]
    """Every kind that applied, in that order, each once (coalesced triggers among them)."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """The policy's answer for one moment."""

    take: Take | None
    state: PolicyState
    suppressed: tuple[str, ...] = ()
    """Triggers dropped because a trigger snapshot was taken too recently."""


def _due(last: float | None, now: float, interval: float) -> bool:
    return last is None or now - last >= interval


def decide(
    settings: PolicySettings, state: PolicyState, now: float, *, motion: bool, triggers: Sequence[str] = ()
) -> Outcome:
    """Whether to take a snapshot at monotonic ``now`` given the frame's motion and the trigger kinds pending."""
    if any(kind not in TRIGGER_KINDS for kind in triggers):
        raise PolicyError(f"trigger kinds are {', '.join(TRIGGER_KINDS)}")
    state = state if state.started is not None else replace(state, started=now)
    reasons: list[str] = []
    suppressed: tuple[str, ...] = ()
    if triggers and settings.triggers and _due(state.last_trigger, now, settings.trigger_min_interval_s):
        reasons.extend(kind for kind in TRIGGER_KINDS if kind in triggers)
    elif triggers:
        suppressed = tuple(triggers)
    motion_due = settings.motion and motion and _due(state.last_motion, now, settings.motion_min_interval_s)
    if motion_due:
        reasons.append(MOTION)
    periodic_from = state.last_any if state.last_any is not None else state.started
    if settings.periodic_s > 0 and periodic_from is not None and now - periodic_from >= settings.periodic_s:
        reasons.append(PERIODIC)
    if not reasons:
        return Outcome(None, state, suppressed)
    took_trigger = reasons[0] not in (MOTION, PERIODIC)
    new_state = replace(
        state,
        last_any=now,
        last_motion=now if motion_due else state.last_motion,
        last_trigger=now if took_trigger else state.last_trigger,
    )
    return Outcome(Take(reasons[0], tuple(reasons)), new_state, suppressed)
