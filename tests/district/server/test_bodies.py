"""Body parsers of the district center: every input is parsed or refused with a reason, never a crash."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from district.server.bodies import (
    BodyError,
    check_idempotency_key,
    parse_registration,
    registration_body,
)
from tests.district.server.support import device_key, spki

REASONS = {"too_large", "bad_json", "bad_schema", "bad_key"}
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)


@given(st.binary(max_size=5000))
def test_any_bytes_are_parsed_or_refused_with_a_reason(data: bytes) -> None:
    reason = None
    try:
        parse_registration(data)
    except BodyError as exc:
        reason = exc.reason
    assert reason is None or reason in REASONS


@given(public_key=json_values, profile=json_values, extra=st.dictionaries(st.text(max_size=8), json_values, max_size=2))
def test_any_json_shape_is_parsed_or_refused_with_a_reason(
    public_key: object, profile: object, extra: dict[str, object]
) -> None:
    body = json.dumps({"public_key": public_key, "profile": profile, **extra}).encode()
    reason: str | None = None
    try:
        parsed = parse_registration(body)
    except BodyError as exc:
        reason = exc.reason
    else:
        assert parsed.profile == profile
    assert reason is None or reason in REASONS


@given(st.sampled_from(["scanner", "camera", "handheld"]))
def test_a_real_registration_round_trips(profile: str) -> None:
    der = spki(device_key())
    assert parse_registration(registration_body(der, profile)).public_key == der


@given(st.text(max_size=120))
def test_idempotency_keys_are_checked(value: str) -> None:
    try:
        checked = check_idempotency_key(value)
    except BodyError as exc:
        checked = exc.reason
    assert checked in (value, "bad_idempotency_key")


@pytest.mark.parametrize("value", [None, "", "a b", "x" * 97, "ключ"])
def test_bad_idempotency_keys_are_refused(value: str | None) -> None:
    with pytest.raises(BodyError):
        check_idempotency_key(value)
