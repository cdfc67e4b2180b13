"""What a hub worker does with each message from the broker: verify, store once, acknowledge; count every refusal.

A batch is verified under the key enrolled for the device of its topic (a batch signed by another key, published
on another device's topic, from an unknown, pending or decommissioned device, or malformed is refused with a reason
and counted); its records are stored in one transaction, idempotently on (device, stream, seq); only then is the
ack published, carrying how far the stream is stored without a gap and which ranges are missing. A duplicate batch
is acknowledged again and stored once. A device that floods is refused past its rate and cannot starve the others.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric import ed25519

from hub.storage.devices import enrolled_key
from hub.storage.engine import Target
from hub.storage.errors import DeviceStateError, StorageError, UnknownDeviceError
from hub.storage.ingest import count_refusal, store_batch
from hub.storage.presence import record_state
from protocol import topics
from protocol.envelope import BatchError, open_batch
from protocol.messages import Ack, MessageError, encode_ack, open_state, parse_result
from protocol.records import RecordError, parse_scan_record
from protocol.topics import Stream, TopicError

log = logging.getLogger(__name__)

FLOOD_MESSAGES_S = 200.0
"""A device may send this many messages per second (bursts of one second's worth); past it, messages are refused.
A healthy drain sends a few dozen batches a second; a device far past this is broken or hostile."""


@dataclass
class _Bucket:
    tokens: float
    updated: float


@dataclass
class FloodGuard:
    """Per-device token buckets."""

    rate: float = FLOOD_MESSAGES_S
    buckets: dict[str, _Bucket] = field(default_factory=dict)

    def allow(self, device: str, now: float) -> bool:
        """Spend one message of ``device``'s budget."""
        bucket = self.buckets.setdefault(device, _Bucket(self.rate, now))
        bucket.tokens = min(self.rate, bucket.tokens + (now - bucket.updated) * self.rate)
        bucket.updated = now
        if bucket.tokens < 1:
            return False
        bucket.tokens -= 1
        return True


class Ingest:
    """Handles one worker's messages; thread-safe counters, storage through the engine."""

    def __init__(
        self,
        target: Target,
        publish: Callable[[str, bytes], bool],
        *,
        clock: Callable[[], float],
        monotonic: Callable[[], float],
        flood: FloodGuard | None = None,
    ) -> None:
        self.target = target
        self.publish = publish
        self.clock = clock
        self.monotonic = monotonic
        self.flood = flood or FloodGuard()
        self.refusals: Counter[str] = Counter()
        self.stored = 0
        self.duplicates = 0
        self.results: dict[str, tuple[str, bool, str]] = {}
        self._lock = threading.Lock()

    def handle(self, topic: str, payload: bytes) -> None:
        """One message from the broker."""
        try:
            parsed = topics.parse(topic)
        except TopicError:
            self._refuse("bad_topic", None)
            return
        device = parsed.device
        if device is None:
            return  # dist/ topics are the hub's own
        if not self.flood.allow(device, self.monotonic()):
            self._refuse("flood", device)
            return
        key = self._key(device)
        if key is None:
            self._refuse("unknown_device", device)
            return
        if parsed.kind == "up" and parsed.stream is not None:
            self._batch(device, parsed.stream, payload, key)
        elif parsed.kind == "state":
            self._state(device, payload, key)
        elif parsed.kind == "result":
            self._result(device, payload)

    def _key(self, device: str) -> ed25519.Ed25519PublicKey | None:
        try:
            return enrolled_key(self.target, device)
        except StorageError as exc:
            log.warning("cannot look up %s's key: %s", device, exc)
            return None

    def _batch(self, device: str, stream: Stream, payload: bytes, key: ed25519.Ed25519PublicKey) -> None:
        try:
            batch = open_batch(payload, key, device=device, stream=stream)
        except BatchError as exc:
            self._refuse(exc.problem.value, device)
            return
        try:
            records = [(record.seq, parse_scan_record(record.fields)) for record in batch.records]
        except RecordError:
            self._refuse("bad_schema", device)
            return
        try:
            result = store_batch(self.target, device, stream, payload, records, now=self.clock())
        except (UnknownDeviceError, DeviceStateError):
            self._refuse("unknown_device", device)
            return
        with self._lock:
            self.stored += result.stored
            self.duplicates += result.duplicates
        ack = Ack(stream, result.contiguous_upto, tuple(result.missing), hub_time=self.clock())
        self.publish(topics.down(device, topics.Down.ACK), encode_ack(ack))

    def _state(self, device: str, payload: bytes, key: ed25519.Ed25519PublicKey) -> None:
        if not payload:
            return  # a retained state being cleared
        try:
            message = open_state(payload, key, device=device)
        except MessageError:
            self._refuse("bad_state", device)
            return
        record_state(self.target, message, now=self.clock())

    def _result(self, device: str, payload: bytes) -> None:
        try:
            result = parse_result(payload)
        except MessageError:
            self._refuse("bad_result", device)
            return
        with self._lock:
            self.results[result.id] = (device, result.ok, result.detail)

    def _refuse(self, reason: str, device: str | None) -> None:
        with self._lock:
            self.refusals[reason] += 1
        log.info("refused a message from %s: %s", device or "?", reason)
        try:
            count_refusal(self.target, reason, device, now=self.clock())
        except StorageError as exc:
            log.warning("could not count a refusal: %s", exc)
