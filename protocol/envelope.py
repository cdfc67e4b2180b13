"""The signed batch envelope a terminal sends its records in (sync spec, "Delivery contract").

A batch is a COSE_Sign1, EdDSA (Ed25519) by the device key, kid = the SPKI kid of that key, whose payload is the
deterministic CBOR map::

    {"v": 1, "dev": "scanner-01", "stream": "events", "boot": h'16 bytes', "recs": [{"seq": 1, ...}, ...]}

``seq`` is the per-device, per-stream 64-bit sequence number (1 .. 2**63-1), strictly ascending within a batch.
The signature covers the exact bytes sent, so the hub and the district center verify "who reported what" with
any COSE library; see protocol/README.md for the full description.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ed25519

from protocol.codec import cbor_dumps, cbor_loads
from protocol.cose import CoseError, decode_sign1, encode_sign1
from protocol.keys import Alg, kid_of_public_key, verify
from protocol.reasons import CredentialError
from protocol.topics import Stream, TopicError, check_device_id

BATCH_VERSION = 1
BOOT_ID_BYTES = 16
MAX_BATCH_BYTES = 256 * 1024
MAX_RECORDS = 1000
MAX_SEQ = 2**63 - 1
"""Sequence numbers fit a signed 64-bit integer, the widest SQLite and PostgreSQL store natively."""
RECORD_DEPTH = 6  # envelope map > recs array > record map > field containers, with room for one level more
_ENVELOPE_DEPTH = 3 + RECORD_DEPTH


class BatchProblem(StrEnum):
    """Why a batch was refused: one counter each at the hub."""

    TOO_LARGE = "too_large"
    BAD_COSE = "bad_cose"
    WRONG_KEY = "wrong_key"
    BAD_SIGNATURE = "bad_signature"
    BAD_SCHEMA = "bad_schema"
    WRONG_TOPIC = "wrong_topic"


class BatchError(ValueError):
    """A batch was refused; ``problem`` says why."""

    def __init__(self, problem: BatchProblem, detail: str) -> None:
        super().__init__(f"{problem.value}: {detail}")
        self.problem = problem
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Record:
    """One stored record of a stream: its sequence number and its fields (text keys, CBOR values)."""

    seq: int
    fields: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Batch:
    """Records of one stream of one device, in ascending ``seq``."""

    device: str
    stream: Stream
    boot: bytes
    records: Sequence[Record]

    @property
    def first_seq(self) -> int:
        """The lowest sequence number in the batch."""
        return self.records[0].seq

    @property
    def last_seq(self) -> int:
        """The highest sequence number in the batch."""
        return self.records[-1].seq


def seal_batch(batch: Batch, device_key: ed25519.Ed25519PrivateKey) -> bytes:
    """Encode and sign a batch with the device key."""
    _check_records(batch.records)
    records = []
    for record in batch.records:
        if "seq" in record.fields:
            raise BatchError(BatchProblem.BAD_SCHEMA, "a record's fields may not contain 'seq'")
        records.append({"seq": record.seq, **record.fields})
    body = {
        "v": BATCH_VERSION,
        "dev": check_device_id(batch.device),
        "stream": Stream(batch.stream).value,
        "boot": batch.boot,
        "recs": records,
    }
    data = encode_sign1(cbor_dumps(body), device_key)
    if len(data) > MAX_BATCH_BYTES:
        raise BatchError(BatchProblem.TOO_LARGE, f"batch of {len(data)} bytes: send fewer records per batch")
    return data


def open_batch(
    data: bytes, device_key: ed25519.Ed25519PublicKey, *, device: str, stream: Stream | None = None
) -> Batch:
    """Verify a batch under the key enrolled for ``device`` (the device of the topic it came on) and decode it.

    ``stream``, when given, is the stream of the topic: a batch naming another device or stream is refused.
    """
    if len(data) > MAX_BATCH_BYTES:
        raise BatchError(BatchProblem.TOO_LARGE, f"{len(data)} bytes, the limit is {MAX_BATCH_BYTES}")
    try:
        message = decode_sign1(data, max_depth=4)
        kid = message.kid(reject_mismatch=True)
    except CoseError as exc:
        raise BatchError(BatchProblem.BAD_COSE, str(exc)) from exc
    if message.alg != Alg.EDDSA or kid != kid_of_public_key(device_key):
        raise BatchError(BatchProblem.WRONG_KEY, f"not signed with the key enrolled for {device}")
    if not verify(device_key, Alg.EDDSA, message.to_be_signed(), message.signature):
        raise BatchError(BatchProblem.BAD_SIGNATURE, f"signature does not verify under {device}'s key")
    try:
        body = cbor_loads(message.payload, max_depth=_ENVELOPE_DEPTH)
    except CredentialError as exc:
        raise BatchError(BatchProblem.BAD_SCHEMA, "payload is not CBOR") from exc
    batch = _batch_of(body)
    if batch.device != device or (stream is not None and batch.stream != stream):
        raise BatchError(BatchProblem.WRONG_TOPIC, f"batch of {batch.device}/{batch.stream} on {device}/{stream}")
    return batch


def _batch_of(body: object) -> Batch:
    if not isinstance(body, dict) or body.get("v") != BATCH_VERSION or isinstance(body.get("v"), bool):
        raise BatchError(BatchProblem.BAD_SCHEMA, "not a version 1 batch")
    dev, stream, boot, recs = body.get("dev"), body.get("stream"), body.get("boot"), body.get("recs")
    try:
        device = check_device_id(dev) if isinstance(dev, str) else None
        stream_ = Stream(str(stream))
    except (TopicError, ValueError) as exc:
        raise BatchError(BatchProblem.BAD_SCHEMA, "bad device id or stream") from exc
    if device is None or not isinstance(boot, bytes) or len(boot) != BOOT_ID_BYTES:
        raise BatchError(BatchProblem.BAD_SCHEMA, "bad device id or boot id")
    if not isinstance(recs, list) or not recs:
        raise BatchError(BatchProblem.BAD_SCHEMA, "recs is not a non-empty array")
    records = []
    for rec in recs:
        if not isinstance(rec, dict) or not all(isinstance(k, str) for k in rec):
            raise BatchError(BatchProblem.BAD_SCHEMA, "a record is not a map with text keys")
        fields = dict(rec)
        seq = fields.pop("seq", None)
        if not isinstance(seq, int) or isinstance(seq, bool):
            raise BatchError(BatchProblem.BAD_SCHEMA, "a record has no integer seq")
        records.append(Record(seq, fields))
    _check_records(records)
    return Batch(device, stream_, boot, tuple(records))


def _check_records(records: Sequence[Record]) -> None:
    if not 0 < len(records) <= MAX_RECORDS:
        raise BatchError(BatchProblem.BAD_SCHEMA, f"a batch holds 1 to {MAX_RECORDS} records")
    previous = 0
    for record in records:
        if not previous < record.seq <= MAX_SEQ:
            raise BatchError(BatchProblem.BAD_SCHEMA, "seq must be 1..2**63-1 and strictly ascending")
        previous = record.seq
