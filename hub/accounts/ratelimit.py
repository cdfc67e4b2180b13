"""The wrong-login rule: at most ``max_failures`` wrong logins per (username, client) in a fixed window.

Past the limit, logins of that pair are refused without checking the password until the window ends, so a guesser
gets a handful of tries per window and the operator who mistyped waits minutes, not forever. A right password
resets the count.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class LoginPolicy:
    """How many wrong logins per window."""

    max_failures: int = 5
    window_s: float = 300.0


@dataclass(frozen=True, slots=True)
class Attempts:
    """Wrong logins counted in the window that started at ``window_start``."""

    failures: int
    window_start: float


def current(attempts: Attempts | None, policy: LoginPolicy, now: float) -> Attempts:
    """The count that applies at ``now`` (a window that ended, or a clock that went back, starts afresh)."""
    if attempts is None or not attempts.window_start <= now < attempts.window_start + policy.window_s:
        return Attempts(0, now)
    return attempts


def blocked(attempts: Attempts | None, policy: LoginPolicy, now: float) -> float | None:
    """Seconds until a login may be tried again, or None when it may be tried now."""
    held = current(attempts, policy, now)
    if held.failures < policy.max_failures:
        return None
    return held.window_start + policy.window_s - now


def after_failure(attempts: Attempts | None, policy: LoginPolicy, now: float) -> Attempts:
    """The count after one more wrong login."""
    held = current(attempts, policy, now)
    return Attempts(held.failures + 1, held.window_start)
