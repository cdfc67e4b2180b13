"""The bounded transport stack: prefix, Base45 (RFC 9285), zlib (RFC 1950) and CBOR, each failing with its reason."""

from __future__ import annotations

import tracemalloc
import zlib
from collections.abc import Iterator

import cbor2
import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.codec import (
    MAX_CBOR_DEPTH,
    MAX_INFLATED_BYTES,
    MAX_QR_TEXT_BYTES,
    b45decode,
    b45encode,
    cbor_dumps,
    cbor_loads,
    deflate,
    inflate,
    split_prefix,
)
from protocol.reasons import CredentialError, Reason
from tests.protocol.support import nested, raw_deflate

PEAK_LIMIT_BYTES = 5 * 1024 * 1024


def _reason(call: object, *args: object) -> Reason:
    assert callable(call)
    with pytest.raises(CredentialError) as caught:
        call(*args)
    return caught.value.reason


def _outcome(call: object, *args: object) -> Reason | None:
    """The reason ``call`` refuses with, or None when it returns."""
    assert callable(call)
    try:
        call(*args)
    except CredentialError as exc:
        return exc.reason
    return None


# -- prefix and the QR text bound --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("GP1:ABC", ("GP1:", "ABC"), id="gp1"),
        pytest.param("HC1:ABC", ("HC1:", "ABC"), id="hc1"),
        pytest.param("GP1:", ("GP1:", ""), id="empty-body"),
        pytest.param("GP1:" + "0" * (MAX_QR_TEXT_BYTES - 4), ("GP1:", "0" * (MAX_QR_TEXT_BYTES - 4)), id="at-bound"),
    ],
)
def test_split_prefix(text: str, expected: tuple[str, str]) -> None:
    assert split_prefix(text) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        pytest.param("", Reason.BAD_PREFIX, id="empty"),
        pytest.param("gp1:ABC", Reason.BAD_PREFIX, id="lowercase"),
        pytest.param("HC2:ABC", Reason.BAD_PREFIX, id="unknown"),
        pytest.param("https://example.org/GP1:ABC", Reason.BAD_PREFIX, id="url"),
        pytest.param("GP1:" + "0" * (MAX_QR_TEXT_BYTES - 3), Reason.TOO_LARGE, id="one-over"),
        pytest.param("XX1:" + "0" * 10_000, Reason.TOO_LARGE, id="bound-before-prefix"),
        pytest.param("GP1:" + "é" * 2047, Reason.TOO_LARGE, id="bytes-not-chars"),
        pytest.param("GP1:" + "\ud800" * 1400, Reason.TOO_LARGE, id="lone-surrogates"),
    ],
)
def test_split_prefix_refuses(text: str, reason: Reason) -> None:
    assert _reason(split_prefix, text) is reason


# -- Base45 ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "text"),
    [  # the examples of RFC 9285, section 4.3 and 4.4
        (b"AB", "BB8"),
        (b"Hello!!", "%69 VD92EX0"),
        (b"base-45", "UJCLQE7W581"),
        (b"ietf!", "QED8WEX0"),
        (b"\x00", "00"),
        (b"\xff\xff", "FGW"),
    ],
)
def test_base45_rfc_vectors(data: bytes, text: str) -> None:
    assert b45encode(data) == text
    assert b45decode(text) == data


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="empty"),
        pytest.param("GGW", id="rfc-invalid-triple"),
        pytest.param(":::", id="triple-overflow"),
        pytest.param("::", id="pair-overflow"),
        pytest.param("BB8B", id="dangling-char"),
        pytest.param("bb8", id="lowercase"),
        pytest.param("BB_", id="not-in-alphabet"),
        pytest.param("中国人", id="non-ascii"),
        pytest.param("\ud800\ud800\ud800", id="surrogates"),
    ],
)
def test_base45_refuses(text: str) -> None:
    assert _reason(b45decode, text) is Reason.BAD_BASE45


@given(st.binary(min_size=1, max_size=3000))
def test_base45_round_trip(data: bytes) -> None:
    text = b45encode(data)
    assert set(text) <= set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")
    assert b45decode(text) == data


@given(st.text(max_size=200))
def test_base45_decode_of_any_text_is_bytes_or_bad_base45(text: str) -> None:
    assert _outcome(b45decode, text) in {None, Reason.BAD_BASE45}


# -- zlib --------------------------------------------------------------------------------------------------------


@given(st.binary(max_size=MAX_INFLATED_BYTES))
def test_zlib_round_trip(data: bytes) -> None:
    assert inflate(deflate(data)) == data


def test_inflate_takes_exactly_the_limit_and_refuses_one_byte_more() -> None:
    assert len(inflate(zlib.compress(bytes(MAX_INFLATED_BYTES)))) == MAX_INFLATED_BYTES
    assert _reason(inflate, zlib.compress(bytes(MAX_INFLATED_BYTES + 1))) is Reason.TOO_LARGE
    assert _reason(inflate, zlib.compress(b"x" * 11), 10) is Reason.TOO_LARGE
    assert inflate(zlib.compress(b"x" * 10), 10) == b"x" * 10


def _compressed_zeros(total: int, chunk: int = 1 << 20) -> bytes:
    """zlib of ``total`` zero bytes, made a chunk at a time so that the test itself stays small."""
    compressor = zlib.compressobj(9)
    zeros = bytes(chunk)
    parts: Iterator[bytes] = (compressor.compress(zeros) for _ in range(total // chunk))
    return b"".join(parts) + compressor.flush()


def test_a_100_mb_zlib_bomb_is_too_large_and_costs_no_memory() -> None:
    bomb = _compressed_zeros(100 * 1024 * 1024)
    assert len(bomb) < 110_000
    tracemalloc.start()
    try:
        reason = _reason(inflate, bomb)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert reason is Reason.TOO_LARGE
    assert peak < PEAK_LIMIT_BYTES


def _gzip(data: bytes) -> bytes:
    compressor = zlib.compressobj(wbits=31)
    return compressor.compress(data) + compressor.flush()


GOOD = zlib.compress(b"a genuine payload, long enough to be worth compressing" * 4)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"not zlib", id="not-zlib"),
        pytest.param(GOOD[:-4], id="no-checksum"),
        pytest.param(GOOD[:10], id="truncated"),
        pytest.param(GOOD + b"\x00", id="trailing-byte"),
        pytest.param(GOOD + GOOD, id="two-streams"),
        pytest.param(GOOD[:-1] + bytes([GOOD[-1] ^ 0xFF]), id="bad-checksum"),
        pytest.param(raw_deflate(b"payload"), id="raw-deflate"),
        pytest.param(_gzip(b"payload"), id="gzip"),
    ],
)
def test_inflate_refuses_what_is_not_one_zlib_stream(data: bytes) -> None:
    assert _reason(inflate, data) is Reason.BAD_ZLIB


@given(st.binary(max_size=600))
def test_inflate_of_any_bytes_is_bytes_or_a_reason(data: bytes) -> None:
    assert _outcome(inflate, data) in {None, Reason.BAD_ZLIB, Reason.TOO_LARGE}


# -- CBOR --------------------------------------------------------------------------------------------------------

CBOR_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**64), max_value=2**64 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
    | st.binary(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.integers() | st.text(max_size=8), children),
    max_leaves=20,
)


@given(CBOR_VALUES)
def test_cbor_round_trip(value: object) -> None:
    assert cbor_loads(cbor_dumps(value)) == value


def test_cbor_dumps_is_deterministic() -> None:
    """Core deterministic encoding: shortest forms, map keys in bytewise order of their encoding."""
    assert cbor_dumps({4: b"k", 1: -7}) == bytes.fromhex("a2012604416b")
    assert cbor_dumps({"b": 1, "a": 2, 10: 0, -1: 0}) == cbor_dumps({-1: 0, 10: 0, "a": 2, "b": 1})
    assert cbor_dumps({"b": 1, "a": 2, 10: 0, -1: 0}) == bytes.fromhex("a40a002000616102616201")
    assert cbor_dumps(1.5) == bytes.fromhex("f93e00")
    assert cbor_dumps(1_000_000) == bytes.fromhex("1a000f4240")


def test_cbor_depth_bound() -> None:
    assert cbor_loads(cbor_dumps(nested(MAX_CBOR_DEPTH))) == nested(MAX_CBOR_DEPTH)
    assert _reason(cbor_loads, cbor_dumps(nested(MAX_CBOR_DEPTH + 1))) is Reason.BAD_CBOR
    assert _reason(cbor_loads, b"\x81" * 100_000 + b"\x00") is Reason.BAD_CBOR


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"\x01\x02", id="trailing-item"),
        pytest.param(b"\xa2\x01\x01\x01\x02", id="duplicate-map-key"),
        pytest.param(b"\x82\x01", id="truncated-array"),
        pytest.param(b"\x62\xff\xfe", id="invalid-utf8"),
        pytest.param(b"\xff", id="stray-break"),
        pytest.param(b"\x1c", id="reserved-additional-info"),
        pytest.param(b"\x9b" + (2**40).to_bytes(8, "big"), id="array-of-2-40"),
        pytest.param(b"\xbb" + (2**40).to_bytes(8, "big") + b"\x00", id="map-of-2-40"),
        pytest.param(b"\x5b" + (2**62).to_bytes(8, "big") + bytes(16), id="bytes-of-2-62"),
        pytest.param(b"\x7a" + (2**31).to_bytes(4, "big") + b"abc", id="text-of-2-31"),
    ],
)
def test_cbor_refuses(data: bytes) -> None:
    tracemalloc.start()
    try:
        reason = _reason(cbor_loads, data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert reason is Reason.BAD_CBOR
    assert peak < 1024 * 1024  # a length header is never an allocation


def test_cbor_refusal_carries_the_reason_it_is_given() -> None:
    with pytest.raises(CredentialError) as caught:
        cbor_loads(b"\xff", reason=Reason.BAD_COSE)
    assert caught.value.reason is Reason.BAD_COSE


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"\xd8\x23" + cbor2.dumps("(("), id="bad-regex"),
        pytest.param(b"\xd8\x1e" + cbor2.dumps([1, 0]), id="rational-zero-denominator"),
        pytest.param(b"\xd8\x25" + cbor2.dumps(b"ab"), id="short-uuid"),
        pytest.param(b"\xc0" + cbor2.dumps("not a date"), id="bad-datetime"),
        pytest.param(b"\xc1" + cbor2.dumps(10**30), id="epoch-overflow"),
        pytest.param(b"\xc5" + cbor2.dumps([2**62, 1]), id="bigfloat-overflow"),
        pytest.param(b"\xc4" + cbor2.dumps([2**100, 1]), id="decimal-overflow"),
        pytest.param(b"\xd8\x1d\x05", id="dangling-shared-reference"),
        pytest.param(b"\xd8\x1c\x81\xd8\x1d\x00", id="self-reference"),
        pytest.param(b"\xd9\x01\x04" + cbor2.dumps(b"abc"), id="bad-ip-address"),
        pytest.param(b"\xd8\x19\x05", id="string-reference-outside-namespace"),
        pytest.param(b"\xd9\x01\x02" + cbor2.dumps([[1], [1]]), id="set-of-duplicates"),
    ],
)
def test_cbor_semantic_tags_never_raise_anything_else(data: bytes) -> None:
    assert _outcome(cbor_loads, data) in {None, Reason.BAD_CBOR}


@given(st.binary(max_size=300))
def test_cbor_loads_of_any_bytes_raises_only_bad_cbor(data: bytes) -> None:
    assert _outcome(cbor_loads, data) in {None, Reason.BAD_CBOR}
