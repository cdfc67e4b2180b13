"""The snapshot policy: a table of moments, then properties over any sequence of frames, motion and triggers."""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from device.snapshots.policy import (
    COMMAND,
    DECISION,
    MAX_DETAIL_CHARS,
    MOTION,
    PERIODIC,
    PolicyError,
    PolicySettings,
    PolicyState,
    Trigger,
    decide,
    parse_trigger,
)

ALL_ON = PolicySettings(periodic_s=60, motion=True, motion_min_interval_s=5, triggers=True, trigger_min_interval_s=2)


@dataclass(frozen=True)
class Moment:
    at: float
    _: KW_ONLY
    motion: bool = False
    triggers: tuple[str, ...] = ()
    expect: str | None = None
    """The snapshot's trigger, or None for no snapshot."""


TABLES: dict[str, tuple[PolicySettings, list[Moment]]] = {
    "nothing happens until the period is over": (
        ALL_ON,
        [Moment(0), Moment(30), Moment(59.9), Moment(60, expect=PERIODIC), Moment(61), Moment(120, expect=PERIODIC)],
    ),
    "motion, then motion too soon, then again after the minimum interval": (
        ALL_ON,
        [
            Moment(0, motion=True, expect=MOTION),
            Moment(1, motion=True),
            Moment(4.9, motion=True),
            Moment(5, motion=True, expect=MOTION),
        ],
    ),
    "a motion snapshot restarts the period": (
        ALL_ON,
        [Moment(0), Moment(50, motion=True, expect=MOTION), Moment(60), Moment(109), Moment(110, expect=PERIODIC)],
    ),
    "a trigger wins over motion and both count": (
        ALL_ON,
        [
            Moment(0, motion=True, triggers=(DECISION,), expect=DECISION),
            Moment(1, motion=True),
            Moment(5, motion=True, expect=MOTION),
        ],
    ),
    "a command comes before a decision in the same frame": (
        ALL_ON,
        [Moment(0, triggers=(DECISION, COMMAND), expect=COMMAND)],
    ),
    "triggers too soon are dropped, later ones taken": (
        ALL_ON,
        [
            Moment(0, triggers=(COMMAND,), expect=COMMAND),
            Moment(1, triggers=(COMMAND,)),
            Moment(2, triggers=(DECISION,), expect=DECISION),
        ],
    ),
    "motion off: motion takes nothing": (
        PolicySettings(periodic_s=0, motion=False),
        [Moment(0, motion=True), Moment(100, motion=True), Moment(1000, motion=True)],
    ),
    "periodic off: only motion": (
        PolicySettings(periodic_s=0, motion=True, motion_min_interval_s=0),
        [
            Moment(0),
            Moment(1e6),
            Moment(1e6 + 1, motion=True, expect=MOTION),
            Moment(1e6 + 1.1, motion=True, expect=MOTION),
        ],
    ),
    "triggers off: triggers take nothing": (
        PolicySettings(periodic_s=0, motion=False, triggers=False),
        [Moment(0, triggers=(COMMAND,)), Moment(10, triggers=(DECISION,))],
    ),
}


@pytest.mark.parametrize("name", list(TABLES))
def test_policy_table(name: str) -> None:
    settings, moments = TABLES[name]
    state = PolicyState()
    for moment in moments:
        outcome = decide(settings, state, moment.at, motion=moment.motion, triggers=moment.triggers)
        state = outcome.state
        taken = outcome.take.trigger if outcome.take is not None else None
        assert taken == moment.expect, (name, moment)


def test_every_reason_that_applied_is_listed_and_suppressed_triggers_are_reported() -> None:
    first = decide(ALL_ON, PolicyState(), 100.0, motion=True, triggers=(DECISION, DECISION))
    assert first.take is not None and first.take.reasons == (DECISION, MOTION)
    second = decide(ALL_ON, first.state, 101.0, motion=False, triggers=(COMMAND,))
    assert second.take is None and second.suppressed == (COMMAND,)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("command c-17", Trigger(COMMAND, "c-17")),
        ("decision revoked", Trigger(DECISION, "revoked")),
        ("  decision  ", Trigger(DECISION, "")),
        ("command a\x00b\nc", Trigger(COMMAND, "a_b_c")),
        ("command " + "x" * 500, Trigger(COMMAND, "x" * MAX_DETAIL_CHARS)),
    ],
)
def test_triggers_are_read_from_text(text: str, expected: Trigger) -> None:
    assert parse_trigger(text) == expected


@pytest.mark.parametrize("text", ["", "motion", "periodic", "reboot now", "Command x", "commandx"])
def test_unknown_trigger_kinds_are_refused(text: str) -> None:
    with pytest.raises(PolicyError):
        parse_trigger(text)


def test_the_policy_refuses_unknown_kinds_and_negative_intervals() -> None:
    with pytest.raises(PolicyError):
        decide(ALL_ON, PolicyState(), 0.0, motion=False, triggers=("motion",))
    with pytest.raises(PolicyError):
        PolicySettings(periodic_s=-1)


@given(st.text(max_size=300))
def test_any_text_is_either_a_plain_bounded_trigger_or_refused(text: str) -> None:
    try:
        trigger = parse_trigger(text)
    except PolicyError:
        return
    assert trigger.kind in (COMMAND, DECISION)
    assert len(trigger.detail) <= MAX_DETAIL_CHARS
    assert trigger.detail.isascii() and trigger.detail.isprintable()


moments = st.lists(
    st.tuples(
        st.floats(min_value=0.0, max_value=30.0),
        st.booleans(),
        st.lists(st.sampled_from([COMMAND, DECISION]), max_size=3),
    ),
    max_size=80,
)
settings_strategy = st.builds(
    PolicySettings,
    periodic_s=st.sampled_from([0.0, 1.0, 10.0, 60.0]),
    motion=st.booleans(),
    motion_min_interval_s=st.sampled_from([0.0, 0.5, 5.0]),
    triggers=st.booleans(),
    trigger_min_interval_s=st.sampled_from([0.0, 2.0, 10.0]),
)


@given(settings_strategy, moments)
def test_policy_properties(settings: PolicySettings, steps: list[tuple[float, bool, list[str]]]) -> None:
    state, now = PolicyState(), 1000.0
    last_motion: float | None = None
    last_trigger: float | None = None
    last_any: float | None = None
    started: float | None = None
    for gap, motion, triggers in steps:
        now += gap
        outcome = decide(settings, state, now, motion=motion, triggers=triggers)
        state = outcome.state
        take = outcome.take
        started = now if started is None else started
        took_trigger = take is not None and (COMMAND in take.reasons or DECISION in take.reasons)
        if triggers:  # every trigger is either in the snapshot or reported as dropped
            assert took_trigger or outcome.suppressed == tuple(triggers)
        if take is None:  # nothing was due: no period over, no fresh motion
            since = now - (last_any if last_any is not None else started)
            assert not (settings.periodic_s > 0 and since >= settings.periodic_s)
            motion_due = last_motion is None or now - last_motion >= settings.motion_min_interval_s
            assert not (settings.motion and motion and motion_due)
            continue
        assert take.trigger == take.reasons[0]
        assert len(set(take.reasons)) == len(take.reasons)
        if MOTION in take.reasons:
            assert settings.motion and motion
            assert last_motion is None or now - last_motion >= settings.motion_min_interval_s
            last_motion = now
        if COMMAND in take.reasons or DECISION in take.reasons:
            assert settings.triggers and triggers
            assert last_trigger is None or now - last_trigger >= settings.trigger_min_interval_s
            last_trigger = now
        if take.reasons == (PERIODIC,):
            assert settings.periodic_s > 0
        last_any = now
