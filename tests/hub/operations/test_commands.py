"""Command arguments are bounded before they are stored or sent."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.operations.commands import MAX_ARGS_BYTES, check_args
from hub.operations.errors import InvalidInputError
from protocol.codec import cbor_dumps

scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=300)
anything = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3), max_leaves=6
)


@given(args=st.dictionaries(st.text(max_size=40), anything, max_size=10))
def test_arguments_are_accepted_only_within_bounds(args: dict[str, Any]) -> None:
    try:
        checked = check_args(args)
    except InvalidInputError:
        return
    assert checked == args
    assert len(checked) <= 8
    assert len(cbor_dumps(checked)) <= MAX_ARGS_BYTES
    for key, value in checked.items():
        assert 0 < len(key) <= 32
        assert value is None or isinstance(value, str | int | float | bool)
        assert not isinstance(value, float) or math.isfinite(value)


@pytest.mark.parametrize("args", [{"": 1}, {"a": [1]}, {"a": float("nan")}, {"a": 2**64}, {"a": "x" * 257}])
def test_bad_arguments_are_refused(args: dict[str, Any]) -> None:
    with pytest.raises(InvalidInputError):
        check_args(args)
