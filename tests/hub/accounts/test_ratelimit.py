"""The wrong-login rule, as pure arithmetic."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from hub.accounts.ratelimit import Attempts, LoginPolicy, after_failure, blocked, current

POLICY = LoginPolicy(max_failures=3, window_s=300)


def test_the_limit_blocks_until_the_window_ends() -> None:
    attempts = None
    for _ in range(3):
        assert blocked(attempts, POLICY, 1000) is None
        attempts = after_failure(attempts, POLICY, 1000)
    assert blocked(attempts, POLICY, 1000) == 300
    assert blocked(attempts, POLICY, 1299) == 1
    assert blocked(attempts, POLICY, 1300) is None
    assert current(attempts, POLICY, 1300) == Attempts(0, 1300)


def test_a_clock_that_went_back_starts_afresh() -> None:
    assert current(Attempts(9, 2000), POLICY, 1000) == Attempts(0, 1000)


@given(times=st.lists(st.floats(min_value=0, max_value=10_000), max_size=30))
def test_never_more_than_the_limit_of_tries_in_one_window(times: list[float]) -> None:
    attempts: Attempts | None = None
    tried: list[float] = []
    for now in sorted(times):
        if blocked(attempts, POLICY, now) is None:
            tried.append(now)
            attempts = after_failure(attempts, POLICY, now)
    for start in tried:
        assert sum(1 for t in tried if start <= t < start + POLICY.window_s) <= 2 * POLICY.max_failures
