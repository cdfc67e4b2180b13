"""Real-time pacing: wait for a frame not yet due, skip to the one due now when the reader fell behind."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from device.camera.pacing import Due, due


def test_early_waits_behind_skips() -> None:
    assert due(now=10.0, started=10.0, next_index=1, fps=10) == Due(1, pytest.approx(0.1), 0)  # type: ignore[arg-type]
    assert due(now=10.1, started=10.0, next_index=1, fps=10) == Due(1, 0.0, 0)
    assert due(now=10.55, started=10.0, next_index=1, fps=10) == Due(5, 0.0, 4)


@given(st.floats(0, 1e5), st.integers(0, 10**6), st.sampled_from([1, 5, 15, 30, 60]))
def test_never_goes_back_and_waits_only_for_the_next(elapsed: float, next_index: int, fps: int) -> None:
    pace = due(now=1000.0 + elapsed, started=1000.0, next_index=next_index, fps=fps)
    assert pace.index >= next_index
    assert pace.wait_s >= 0
    assert (pace.wait_s == 0) or (pace.index == next_index and pace.dropped == 0)
    assert pace.index - next_index == pace.dropped
