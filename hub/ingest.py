"""What a hub worker does with each message from the broker: verify, store once, acknowledge; count every refusal.

A batch is verified under the key enrolled for the device of its topic (a batch signed by another key, published
on another device's topic, from an unknown, pending or decommissioned device, or malformed is refused with a reason
and counted); its records are stored in one transaction, idempotently on (device, stream, seq); only then is the
ack published, carrying how far the stream is stored without a gap and which ranges are missing. A duplicate batch
is acknowledged again and stored once. A device that floods is refused past its rate and cannot starve the others.

The ``snapshots`` topic also carries image chunks (``protocol/media.py``): each is stored (``storage/media.py``)
and answered on the device's ``down/media`` with how many bytes the hub holds, ``complete`` once the SHA-256 of the
whole matched its signed record, or ``restart`` after a mismatch. Image bytes have a flood budget of their own.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ed25519

from hub.lists_catchup import catch_up
from hub.operations.commands import store_result
from hub.operations.identity import accept_rotation
from hub.storage.configs import record_config_answer
from hub.storage.devices import enrolled_key
from hub.storage.engine import Target
from hub.storage.errors import DeviceStateError, InvalidValueError, StorageError, UnknownDeviceError
from hub.storage.identity import admit, retired_key
from hub.storage.ingest import StreamRecord, count_refusal, store_batch
from hub.storage.media import store_chunk
from hub.storage.presence import record_state
from protocol import topics
from protocol.cose import CoseError, decode_sign1
from protocol.envelope import BatchError, BatchProblem, Record, open_batch
from protocol.identity import is_rotation, rotation_answer, store_id_of, store_tag
from protocol.media import ImageStatus, MediaError, encode_progress, is_chunk, parse_chunk
from protocol.messages import Ack, DeviceState, MessageError, encode_ack, encode_command, open_state, parse_result
from protocol.records import (
    RecordError,
    ScanRecord,
    parse_incident_record,
    parse_scan_record,
    parse_snapshot_record,
)
from protocol.topics import Stream, TopicError

log = logging.getLogger(__name__)

MAX_LISTS_PER_DEVICE = 4
"""Revocation lists a terminal may report in its birth (it holds one; a few allowed for a migration)."""

CONFIG_RESULT_PREFIX = "config:"
"""A terminal answers a pushed configuration under the id ``config:<version>`` (``device/commands.py``)."""

FLOOD_MESSAGES_S = 200.0
"""A device may send this many messages per second (bursts of one second's worth); past it, messages are refused.
A healthy drain sends a few dozen batches a second; a device far past this is broken or hostile."""
FLOOD_IMAGE_BYTES_S = 8.0 * 1024 * 1024
"""Image chunk bytes a device may send per second (terminals send a few hundred KiB/s under their rate cap)."""


@dataclass
class _Bucket:
    tokens: float
    updated: float


def _version(value: object) -> bool:
    """A version a birth may report: none held yet, or a non-negative integer."""
    return value is None or (isinstance(value, int) and not isinstance(value, bool) and value >= 0)


@dataclass
class FloodGuard:
    """Per-device token buckets."""

    rate: float = FLOOD_MESSAGES_S
    buckets: dict[str, _Bucket] = field(default_factory=dict)

    def allow(self, device: str, now: float, cost: float = 1.0) -> bool:
        """Spend ``cost`` (one message, or some bytes) of ``device``'s budget."""
        bucket = self.buckets.setdefault(device, _Bucket(self.rate, now))
        bucket.tokens = min(self.rate, bucket.tokens + (now - bucket.updated) * self.rate)
        bucket.updated = now
        if bucket.tokens < cost:
            return False
        bucket.tokens -= cost
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
        image_flood: FloodGuard | None = None,
    ) -> None:
        self.target = target
        self.publish = publish
        self.clock = clock
        self.monotonic = monotonic
        self.flood = flood or FloodGuard()
        self.image_flood = image_flood or FloodGuard(FLOOD_IMAGE_BYTES_S)
        self.image_bytes = 0
        """Image bytes stored (new bytes only)."""
        self.image_bytes_received = 0
        """Image bytes of every well-formed chunk received, repeats included."""
        self.images_completed = 0
        self.refusals: Counter[str] = Counter()
        self.stored = 0
        self.duplicates = 0
        self.results: dict[str, tuple[str, bool, str]] = {}
        self.after_events: Callable[[str, list[ScanRecord]], object] | None = None
        """Called with a device's newly stored scan records (the worker sets the snapshot triggers here)."""
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
        if parsed.kind == "up" and parsed.stream is not None and is_chunk(payload):
            self._chunk(device, parsed.stream, payload)
        elif parsed.kind == "up" and parsed.stream is not None:
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
            retired = exc.problem is BatchProblem.WRONG_KEY and self._retired(device, payload)
            self._refuse("retired_key" if retired else exc.problem.value, device)
            return
        try:
            records = [(record.seq, _parse_record(stream, record)) for record in batch.records]
        except RecordError:
            self._refuse("bad_schema", device)
            return
        try:  # which store numbered these records (its tag starts the boot id): a replaced one is refused
            refusal = admit(self.target, device, store_tag(batch.boot), now=self.clock(), stream=stream,
                            first_seq=batch.first_seq)  # fmt: skip
        except UnknownDeviceError:
            refusal = "unknown_device"
        if refusal is not None:
            self._refuse(refusal, device)
            return
        try:
            result = store_batch(self.target, device, stream, payload, records, now=self.clock())
        except (UnknownDeviceError, DeviceStateError):
            self._refuse("unknown_device", device)
            return
        except InvalidValueError:
            self._refuse("bad_schema", device)
            return
        with self._lock:
            self.stored += result.stored
            self.duplicates += result.duplicates
        ack = Ack(stream, result.contiguous_upto, tuple(result.missing), hub_time=self.clock())
        self.publish(topics.down(device, topics.Down.ACK), encode_ack(ack))
        if self.after_events is not None and stream is Stream.EVENTS and result.stored:
            self.after_events(device, [record for _seq, record in records if isinstance(record, ScanRecord)])

    def _chunk(self, device: str, stream: Stream, payload: bytes) -> None:
        if stream is not Stream.SNAPSHOTS:
            self._refuse("wrong_topic", device)
            return
        try:
            chunk = parse_chunk(payload)
        except MediaError:
            self._refuse("bad_chunk", device)
            return
        with self._lock:
            self.image_bytes_received += len(chunk.data)
        if not self.image_flood.allow(device, self.monotonic(), len(chunk.data)):
            self._refuse("image_flood", device)
            return
        try:
            result = store_chunk(self.target, device, chunk, now=self.clock())
        except InvalidValueError:
            self._refuse("bad_chunk", device)
            return
        with self._lock:
            self.image_bytes += result.stored_bytes
            self.images_completed += result.progress.status is ImageStatus.COMPLETE and result.stored_bytes > 0
        if result.refusal is not None:
            self._refuse(result.refusal, device)
        self.publish(topics.media(device), encode_progress(result.progress))

    def _state(self, device: str, payload: bytes, key: ed25519.Ed25519PublicKey) -> None:
        if not payload:
            return  # a retained state being cleared
        try:
            message = open_state(payload, key, device=device)
        except MessageError:
            self._refuse("retired_key" if self._retired(device, payload) else "bad_state", device)
            return
        record_state(self.target, message, now=self.clock())
        if message.state is DeviceState.ONLINE:
            try:  # the birth names its store: a replaced one is flagged for operators even before any batch
                admit(self.target, device, store_tag(message.boot), now=self.clock(),
                      store_id=store_id_of(message.info, message.boot))  # fmt: skip
            except UnknownDeviceError:
                return
            # The hub's time at once, so a terminal without NTP decides on trusted time before its first batch.
            # upto 0 acknowledges nothing: an ack never vouches for records the hub has not seen in this batch flow.
            self.publish(topics.down(device, topics.Down.ACK), encode_ack(Ack(Stream.EVENTS, 0, hub_time=self.clock())))
            self._lists_catch_up(device, message.info)

    def _lists_catch_up(self, device: str, info: dict[str, Any]) -> None:
        """Send a terminal the revocation updates it missed (its birth says which version it holds)."""
        lists = info.get("lists")
        held_versions = lists.get("revocations") if isinstance(lists, dict) else None
        if not isinstance(held_versions, dict):
            return
        for list_id, held in list(held_versions.items())[:MAX_LISTS_PER_DEVICE]:
            if not isinstance(list_id, str) or not _version(held):
                continue
            try:
                documents = catch_up(self.target, list_id, held or 0)
            except StorageError as exc:
                log.warning("cannot look up the list updates %s missed: %s", device, exc)
                return
            for document in documents:
                self.publish(topics.down(device, topics.Down.LISTS), document.document)
            if documents:
                log.info("sent %s %d updates of list %s from version %s", device, len(documents), list_id, held)

    def _retired(self, device: str, payload: bytes) -> bool:
        """Whether a message that did not verify was signed by a key the device rotated away from."""
        try:
            kid = decode_sign1(payload, max_depth=4).kid(reject_mismatch=False)
        except CoseError:
            return False
        try:
            return kid is not None and retired_key(self.target, device, kid) is not None
        except StorageError as exc:
            log.warning("cannot look up %s's retired keys: %s", device, exc)
            return False

    def _rotation(self, device: str, payload: bytes) -> None:
        """A terminal's key rotation (``protocol/identity.py``): swap its key, then tell it so on ``down/cmd``."""
        try:
            reply = accept_rotation(self.target, device, payload, now=self.clock())
        except StorageError as exc:
            log.warning("could not take %s's key rotation (it sends it again): %s", device, exc)
            return
        if reply.refusal is not None:
            self._refuse(reply.refusal, device)
        if reply.answer is not None:
            self.publish(topics.down(device, topics.Down.CMD), encode_command(rotation_answer(reply.answer)))

    def _result(self, device: str, payload: bytes) -> None:
        if is_rotation(payload):
            self._rotation(device, payload)
            return
        try:
            result = parse_result(payload)
        except MessageError:
            self._refuse("bad_result", device)
            return
        with self._lock:
            self.results[result.id] = (device, result.ok, result.detail)
        if not result.id.startswith(CONFIG_RESULT_PREFIX):
            try:
                kept = store_result(self.target, device, result, now=self.clock())
            except StorageError as exc:
                log.warning("could not keep %s's result of command %s: %s", device, result.id, exc)
            else:
                if not kept:  # no such command of this device, or answered before
                    self._refuse("unknown_result", device)
        if result.id.startswith(CONFIG_RESULT_PREFIX) and result.id[len(CONFIG_RESULT_PREFIX) :].isdigit():
            version = int(result.id[len(CONFIG_RESULT_PREFIX) :])
            try:
                record_config_answer(self.target, device, version, ok=result.ok, detail=result.detail, now=self.clock())
            except StorageError as exc:
                log.warning("could not keep %s's answer to config %d: %s", device, version, exc)

    def _refuse(self, reason: str, device: str | None) -> None:
        with self._lock:
            self.refusals[reason] += 1
        log.info("refused a message from %s: %s", device or "?", reason)
        try:
            count_refusal(self.target, reason, device, now=self.clock())
        except StorageError as exc:
            log.warning("could not count a refusal: %s", exc)


def _parse_record(stream: Stream, record: Record) -> StreamRecord:
    """A record's fields under its stream's schema (``RecordError`` when they do not fit)."""
    if stream is Stream.INCIDENTS:
        return parse_incident_record(record.fields)
    if stream is Stream.SNAPSHOTS:
        return parse_snapshot_record(record.fields)
    return parse_scan_record(record.fields)
