"""Scan record fields: what a terminal sends is what the hub accepts, and nothing else."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.records import RecordError, ScanRecord, parse_scan_record

GOOD = ScanRecord(boot="ab" * 16, at=1.8e9, time_source="ntp", decision="deny", reason="revoked", kind="GP1",
                  iss="CN-ZJ-HZ", status="green", rid="cd" * 16, latency_ms=12.5)  # fmt: skip


def test_round_trip_and_empty_values_left_out() -> None:
    assert parse_scan_record(GOOD.fields()) == GOOD
    bare = ScanRecord(boot="00" * 16, at=1.0, time_source="untrusted", decision="invalid", reason="bad_prefix", iss="")
    assert "iss" not in bare.fields()
    assert parse_scan_record(bare.fields()) == ScanRecord("00" * 16, 1.0, "untrusted", "invalid", "bad_prefix")


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("decision", "maybe"),
        ("reason", "ok"),  # ok belongs to pass, not deny
        ("time_source", "gps"),
        ("boot", "AB" * 16),
        ("rid", "zz" * 16),
        ("at", float("inf")),
        ("at", True),
        ("kind", "QR1"),
        ("iss", "x" * 300),
        ("latency_ms", "fast"),
        ("text", "GP1:..."),  # never a pass text
    ],
)
def test_bad_fields_are_refused(key: str, value: object) -> None:
    with pytest.raises(RecordError):
        parse_scan_record({**GOOD.fields(), key: value})


@given(
    st.dictionaries(st.text(max_size=12), st.none() | st.text(max_size=40) | st.floats() | st.integers(), max_size=8)
)
def test_parser_raises_only_record_errors(fields: dict[str, object]) -> None:
    with contextlib.suppress(RecordError):
        parse_scan_record(fields)
