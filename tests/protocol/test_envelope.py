"""The signed batch envelope: round trips, and every way a batch is refused."""

from __future__ import annotations

import os

import cbor2
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.codec import cbor_dumps
from protocol.cose import encode_sign1
from protocol.envelope import (
    MAX_BATCH_BYTES,
    MAX_RECORDS,
    Batch,
    BatchError,
    BatchProblem,
    Record,
    open_batch,
    seal_batch,
)
from protocol.topics import Stream

DEVICE_KEY = ed25519.Ed25519PrivateKey.generate()
OTHER_KEY = ed25519.Ed25519PrivateKey.generate()
BOOT = bytes(range(16))


def batch(*seqs: int, device: str = "scanner-01", stream: Stream = Stream.EVENTS) -> Batch:
    records = tuple(Record(seq, {"decision": "pass", "reason": "ok", "rid": os.urandom(16)}) for seq in seqs)
    return Batch(device, stream, BOOT, records)


def test_round_trip() -> None:
    sent = batch(1, 2, 5)
    received = open_batch(seal_batch(sent, DEVICE_KEY), DEVICE_KEY.public_key(), device="scanner-01")
    assert received == sent
    assert (received.first_seq, received.last_seq) == (1, 5)


def test_the_encoding_is_deterministic_cbor_in_cose_sign1() -> None:
    data = seal_batch(batch(7), DEVICE_KEY)
    tag = cbor2.loads(data)
    assert tag.tag == 18
    protected, _unprotected, payload, signature = tag.value
    assert cbor2.loads(protected)[1] == -8
    body = cbor2.loads(payload)
    assert body["v"] == 1 and body["dev"] == "scanner-01" and body["stream"] == "events"
    assert body["recs"][0]["seq"] == 7
    assert payload == cbor_dumps(body)
    assert len(signature) == 64


def test_another_devices_key_is_refused() -> None:
    data = seal_batch(batch(1), OTHER_KEY)
    with pytest.raises(BatchError) as err:
        open_batch(data, DEVICE_KEY.public_key(), device="scanner-01")
    assert err.value.problem is BatchProblem.WRONG_KEY


def test_a_forged_signature_is_refused() -> None:
    data = bytearray(seal_batch(batch(1), DEVICE_KEY))
    data[-1] ^= 1
    with pytest.raises(BatchError) as err:
        open_batch(bytes(data), DEVICE_KEY.public_key(), device="scanner-01")
    assert err.value.problem is BatchProblem.BAD_SIGNATURE


def test_a_batch_on_another_devices_topic_is_refused() -> None:
    data = seal_batch(batch(1, device="scanner-02"), DEVICE_KEY)
    with pytest.raises(BatchError) as err:
        open_batch(data, DEVICE_KEY.public_key(), device="scanner-01")
    assert err.value.problem is BatchProblem.WRONG_TOPIC
    with pytest.raises(BatchError) as err:
        open_batch(
            seal_batch(batch(1), DEVICE_KEY), DEVICE_KEY.public_key(), device="scanner-01", stream=Stream.INCIDENTS
        )
    assert err.value.problem is BatchProblem.WRONG_TOPIC


def test_an_ecdsa_signed_batch_is_refused() -> None:
    payload = cbor_dumps({"v": 1, "dev": "scanner-01", "stream": "events", "boot": BOOT, "recs": [{"seq": 1}]})
    data = encode_sign1(payload, ec.generate_private_key(ec.SECP256R1()))
    with pytest.raises(BatchError) as err:
        open_batch(data, DEVICE_KEY.public_key(), device="scanner-01")
    assert err.value.problem is BatchProblem.WRONG_KEY


@pytest.mark.parametrize(
    "body",
    [
        {"v": 2, "dev": "scanner-01", "stream": "events", "boot": BOOT, "recs": [{"seq": 1}]},
        {"v": True, "dev": "scanner-01", "stream": "events", "boot": BOOT, "recs": [{"seq": 1}]},
        {"v": 1, "dev": "Scanner", "stream": "events", "boot": BOOT, "recs": [{"seq": 1}]},
        {"v": 1, "dev": "scanner-01", "stream": "photos", "boot": BOOT, "recs": [{"seq": 1}]},
        {"v": 1, "dev": "scanner-01", "stream": "events", "boot": b"short", "recs": [{"seq": 1}]},
        {"v": 1, "dev": "scanner-01", "stream": "events", "boot": BOOT, "recs": []},
        {"v": 1, "dev": "scanner-01", "stream": "events", "boot": BOOT, "recs": [{"seq": 0}]},
        {"v": 1, "dev": "scanner-01", "stream": "events", "boot": BOOT, "recs": [{"seq": 2**63}]},
        {"v": 1, "dev": "scanner-01", "stream": "events", "boot": BOOT, "recs": [{"seq": 2}, {"seq": 2}]},
        {"v": 1, "dev": "scanner-01", "stream": "events", "boot": BOOT, "recs": [{"seq": 3}, {"seq": 2}]},
        {"v": 1, "dev": "scanner-01", "stream": "events", "boot": BOOT, "recs": [{"seq": True}]},
        {"v": 1, "dev": "scanner-01", "stream": "events", "boot": BOOT, "recs": [{1: 2, "seq": 1}]},
        {"v": 1, "dev": "scanner-01", "stream": "events", "boot": BOOT, "recs": [{"seq": i} for i in range(1, 1002)]},
        [1, 2, 3],
    ],
    ids=lambda body: str(body)[:60],
)
def test_signed_but_malformed_bodies_are_bad_schema(body: object) -> None:
    data = encode_sign1(cbor_dumps(body), DEVICE_KEY)
    with pytest.raises(BatchError) as err:
        open_batch(data, DEVICE_KEY.public_key(), device="scanner-01")
    assert err.value.problem is BatchProblem.BAD_SCHEMA


def test_oversized_batches_are_refused_before_any_work() -> None:
    with pytest.raises(BatchError) as err:
        open_batch(b"\x00" * (MAX_BATCH_BYTES + 1), DEVICE_KEY.public_key(), device="scanner-01")
    assert err.value.problem is BatchProblem.TOO_LARGE
    big = Batch("d", Stream.EVENTS, BOOT, tuple(Record(i, {"blob": b"x" * 300}) for i in range(1, MAX_RECORDS + 1)))
    with pytest.raises(BatchError) as err:
        seal_batch(big, DEVICE_KEY)
    assert err.value.problem is BatchProblem.TOO_LARGE


def test_sealing_refuses_what_opening_would_refuse() -> None:
    with pytest.raises(BatchError):
        seal_batch(batch(2, 1), DEVICE_KEY)
    with pytest.raises(BatchError):
        seal_batch(Batch("d", Stream.EVENTS, BOOT, (Record(1, {"seq": 9}),)), DEVICE_KEY)


@settings(max_examples=60)
@given(st.binary(max_size=2048))
def test_garbage_is_refused_with_a_problem_never_an_exception(data: bytes) -> None:
    with pytest.raises(BatchError):
        open_batch(data, DEVICE_KEY.public_key(), device="scanner-01")


@settings(max_examples=40)
@given(
    st.lists(st.integers(min_value=1, max_value=2**63 - 1), min_size=1, max_size=20, unique=True).map(sorted),
    st.dictionaries(
        st.text(min_size=1, max_size=8).filter(lambda k: k != "seq"), st.integers() | st.text(max_size=20), max_size=5
    ),
)
def test_round_trip_property(seqs: list[int], fields: dict[str, object]) -> None:
    sent = Batch("d-1", Stream.SNAPSHOTS, BOOT, tuple(Record(s, fields) for s in seqs))
    assert open_batch(seal_batch(sent, DEVICE_KEY), DEVICE_KEY.public_key(), device="d-1") == sent
