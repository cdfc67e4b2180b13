"""Image chunks and the hub's progress: bounded, strict, told apart from batches; round trips and fuzz."""

from __future__ import annotations

import contextlib

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from hypothesis import given
from hypothesis import strategies as st

from protocol.codec import cbor_dumps
from protocol.envelope import Batch, Record, seal_batch
from protocol.media import (
    MAX_CHUNK_BYTES,
    MIN_CHUNK_BYTES,
    Chunk,
    ImageStatus,
    MediaError,
    Progress,
    check_chunk,
    encode_chunk,
    encode_progress,
    is_chunk,
    parse_chunk,
    parse_progress,
)
from protocol.records import MAX_IMAGE_BYTES
from protocol.topics import Down, Stream, media, parse

SHA = "0f" * 32


def test_round_trips_and_a_chunk_is_not_a_batch() -> None:
    chunk = Chunk(SHA, 5000, 4096, b"x" * 904)
    data = encode_chunk(chunk)
    assert is_chunk(data)
    assert parse_chunk(data) == chunk
    progress = Progress(SHA, 4096, ImageStatus.PARTIAL)
    assert parse_progress(encode_progress(progress)) == progress
    batch = seal_batch(
        Batch("cam-01", Stream.SNAPSHOTS, bytes(16), (Record(1, {"a": 1}),)), ed25519.Ed25519PrivateKey.generate()
    )
    assert not is_chunk(batch)
    assert not is_chunk(b"")


def test_the_progress_topic_is_inside_the_device_subtree() -> None:
    assert media("cam-01") == "gridpass/v1/dev/cam-01/down/media"
    assert parse(media("cam-01")).down is Down.MEDIA


@pytest.mark.parametrize(
    "chunk",
    [
        Chunk(SHA, 0, 0, b"x"),  # empty image
        Chunk(SHA, MAX_IMAGE_BYTES + 1, 0, b"x" * MIN_CHUNK_BYTES),
        Chunk(SHA, 10, 10, b"x"),  # offset at the end
        Chunk(SHA, 10, 5, b"x" * 6),  # past the end
        Chunk(SHA, 10 * MIN_CHUNK_BYTES, 0, b"x" * (MIN_CHUNK_BYTES - 1)),  # tiny chunk not at the end
        Chunk(SHA, MAX_IMAGE_BYTES, 0, b"x" * (MAX_CHUNK_BYTES + 1)),
        Chunk(SHA, 10, 0, b""),
        Chunk("AB" * 32, 10, 0, b"x" * 10),
        Chunk("zz" * 32, 10, 0, b"x" * 10),
    ],
)
def test_bounds(chunk: Chunk) -> None:
    with pytest.raises(MediaError):
        check_chunk(chunk)


@pytest.mark.parametrize(
    "body",
    [
        {"v": 2, "t": "chunk", "img": bytes(32), "size": 1, "off": 0, "data": b"x"},
        {"v": 1, "t": "chunk", "img": bytes(31), "size": 1, "off": 0, "data": b"x"},
        {"v": 1, "t": "chunk", "img": bytes(32), "size": 1, "off": 0, "data": "x"},
        {"v": 1, "t": "chunk", "img": bytes(32), "size": True, "off": 0, "data": b"x"},
        {"v": 1, "t": "chunk", "img": bytes(32), "size": 1, "off": 0, "data": b"x", "extra": 1},
        {"v": 1, "t": "batch", "img": bytes(32), "size": 1, "off": 0, "data": b"x"},
        {"v": True, "t": "chunk", "img": bytes(32), "size": 1, "off": 0, "data": b"x"},
    ],
)
def test_malformed_chunks_are_refused(body: dict[str, object]) -> None:
    with pytest.raises(MediaError):
        parse_chunk(cbor_dumps(body))


def test_oversized_messages_are_refused_before_decoding() -> None:
    with pytest.raises(MediaError, match="larger"):
        parse_chunk(b"\xa6" + bytes(MAX_CHUNK_BYTES + 1024))
    with pytest.raises(MediaError):
        parse_progress(cbor_dumps({"v": 1, "img": bytes(32), "have": 1, "status": "maybe"}))


@given(size=st.integers(1, MAX_IMAGE_BYTES), data=st.data())
def test_chunk_round_trip_property(size: int, data: st.DataObject) -> None:
    offset = data.draw(st.integers(0, size - 1))
    length = data.draw(st.integers(min(MIN_CHUNK_BYTES, size - offset), min(MAX_CHUNK_BYTES, size - offset)))
    if length < MIN_CHUNK_BYTES:
        length = size - offset  # only the last chunk may be short
    chunk = Chunk(data.draw(st.text("0123456789abcdef", min_size=64, max_size=64)), size, offset, b"\x01" * length)
    assert parse_chunk(encode_chunk(chunk)) == chunk


@given(st.text("0123456789abcdef", min_size=64, max_size=64), st.integers(0, MAX_IMAGE_BYTES),
       st.sampled_from(list(ImageStatus)))  # fmt: skip
def test_progress_round_trip_property(sha: str, have: int, status: ImageStatus) -> None:
    progress = Progress(sha, have, status)
    assert parse_progress(encode_progress(progress)) == progress


@given(st.binary(max_size=512))
def test_fuzz_bytes_never_raise_anything_but_media_error(data: bytes) -> None:
    for parser in (parse_chunk, parse_progress):
        with contextlib.suppress(MediaError):
            parser(data)


VALUES = st.none() | st.integers() | st.binary(max_size=40) | st.text(max_size=10) | st.booleans()


@given(st.dictionaries(st.sampled_from(["v", "t", "img", "size", "off", "data", "have", "status"]), VALUES))
def test_fuzz_maps_never_raise_anything_but_media_error(body: dict[str, object]) -> None:
    for parser in (parse_chunk, parse_progress):
        with contextlib.suppress(MediaError):
            parser(cbor_dumps(body))
