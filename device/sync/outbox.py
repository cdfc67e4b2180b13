"""The durable outbox: sends what the store holds, forgets it only when the hub's ack says it is stored.

A PUBACK only means the broker has the message; the hub's ``ack`` (``down/ack``) says the record is durably stored,
and only that moves the store's ``acked_upto``. Records go oldest first per stream, streams by priority (scan events,
then incidents, then images), within a window of unacknowledged batches and a rate cap in messages and bytes per
second, so a week of backlog drains steadily without flooding the broker. A batch unacknowledged for too long, or a
reconnect, sends again from the last acknowledged record; the hub stores each (device, stream, seq) once, so sending
twice costs bandwidth, never correctness. Ranges the hub reports missing are sent again first.

Images go last, in chunks (``protocol/media.py``), one image at a time, only when every record is sent (a record
backlog drains first) and once the record that announces the image is acknowledged: at most ``image_window_bytes``
beyond what the hub confirmed, and a chunk only when the previous message has left the terminal (``settled``: its
PUBACK arrived), so a fresh scan event queues behind one chunk at most. The hub answers each chunk with how many
bytes it holds; after a reconnect, a timeout or a terminal restart sending resumes there. The store forgets an image
only when the hub says ``complete`` (the SHA-256 of the whole matched).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ed25519

from device.store import DeviceStore
from protocol.envelope import Batch, BatchError, Record, seal_batch
from protocol.media import DEFAULT_CHUNK_BYTES, MAX_CHUNK_BYTES, Chunk, ImageStatus, Progress, encode_chunk
from protocol.messages import Ack
from protocol.topics import Stream, up

log = logging.getLogger(__name__)

PRIORITY = (Stream.EVENTS, Stream.INCIDENTS, Stream.SNAPSHOTS)
PROGRESS_PERSIST_BYTES = 256 * 1024
"""The hub's progress is written to the store at most every this many bytes (and on complete or restart): after a
terminal restart sending resumes at most this far back, and the hub's first answer moves it forward anyway."""
UNKNOWN_RETRY_S = 60.0
"""An image the hub does not know (its record not stored there yet) is tried again after this long."""


@dataclass(frozen=True, slots=True)
class OutboxSettings:
    """Batching, window and rate cap (all configurable on the terminal)."""

    batch_records: int = 200
    batch_bytes: int = 48 * 1024
    window: int = 4
    """Batches of one stream sent and not yet acknowledged, at most."""
    ack_timeout_s: float = 30.0
    """A batch unacknowledged this long is taken as lost: sending starts again from the last ack."""
    rate_messages_s: float = 20.0
    rate_bytes_s: float = 256 * 1024
    image_chunk_bytes: int = DEFAULT_CHUNK_BYTES
    """Bytes of image per chunk message (at most ``protocol.media.MAX_CHUNK_BYTES``)."""
    image_window_bytes: int = 4 * DEFAULT_CHUNK_BYTES
    """Image bytes sent beyond what the hub confirmed, at most."""

    def __post_init__(self) -> None:
        """Refuse a chunk size the hub would refuse."""
        if not 0 < self.image_chunk_bytes <= MAX_CHUNK_BYTES:
            raise ValueError(f"image_chunk_bytes must be 1..{MAX_CHUNK_BYTES}")


class TokenBucket:
    """A rate cap: ``rate`` units per second, bursts up to one second's worth."""

    def __init__(self, rate: float, now: float) -> None:
        self.rate = rate
        self.tokens = rate
        self.updated = now

    def refill(self, now: float) -> None:
        """Add what has accrued since the last refill."""
        self.tokens = min(self.rate, self.tokens + (now - self.updated) * self.rate)
        self.updated = now

    def take(self, amount: float) -> bool:
        """Spend ``amount`` if available (a single unit larger than the bucket passes when the bucket is full)."""
        if self.tokens >= amount or self.tokens >= self.rate:
            self.tokens -= amount
            return True
        return False


@dataclass
class _StreamState:
    sent_upto: int = 0
    inflight: deque[tuple[int, float]] = field(default_factory=deque)
    resend: deque[tuple[int, int]] = field(default_factory=deque)


@dataclass
class _ImageState:
    sha256: str
    size: int
    confirmed: int
    """Bytes the hub said it holds."""
    sent: int
    """Where the next chunk starts."""
    progressed_at: float
    persisted: int = 0
    """What the store holds as the hub's progress."""


@dataclass
class ImageCounters:
    """What the outbox did with images, for status, metrics and tests."""

    chunks: int = 0
    bytes: int = 0
    completed: int = 0
    restarted: int = 0
    resumed: int = 0


class Outbox:
    """Runs on the sync thread with its own store connection."""

    def __init__(
        self,
        store: DeviceStore,
        publish: Callable[[str, bytes], bool],
        *,
        device_id: str,
        device_key: ed25519.Ed25519PrivateKey,
        boot: bytes,
        settings: OutboxSettings,
        now: float,
        settled: Callable[[], bool] | None = None,
    ) -> None:
        self.store = store
        self.publish = publish
        self.device_id = device_id
        self.device_key = device_key
        self.boot = boot
        self.settings = settings
        self.streams = {stream: _StreamState() for stream in PRIORITY}
        self.messages = TokenBucket(settings.rate_messages_s, now)
        self.bytes = TokenBucket(settings.rate_bytes_s, now)
        self.settled = settled or (lambda: True)
        """Whether every message published so far has left the terminal (the link's PUBACKs)."""
        self.sent_batches = 0
        self.resent_batches = 0
        self.images = ImageCounters()
        self._image: _ImageState | None = None
        self._unknown: dict[str, float] = {}
        self.reset()

    def reset(self) -> None:
        """After a (re)connect: everything not acknowledged is sent again, oldest first."""
        for stream, state in self.streams.items():
            state.sent_upto = self.store.acked_upto(stream)
            state.inflight.clear()
        if self._image is not None and self._image.sent > self._image.confirmed:
            self.images.resumed += 1
            self._image.sent = self._image.confirmed

    def on_ack(self, ack: Ack) -> None:
        """The hub stored ``ack.stream`` up to ``ack.upto``: the store may forget; missing ranges are sent again."""
        self.store.ack(ack.stream, ack.upto)
        state = self.streams[ack.stream]
        while state.inflight and state.inflight[0][0] <= ack.upto:
            state.inflight.popleft()
        state.sent_upto = max(state.sent_upto, ack.upto)
        for first, last in ack.missing:
            if last > ack.upto and (first, last) not in state.resend:
                state.resend.append((max(first, ack.upto + 1), last))

    def on_progress(self, progress: Progress, now: float) -> None:
        """The hub's answer to a chunk: how much of the image it holds, or that it is complete, or to start over."""
        current = self._image if self._image is not None and self._image.sha256 == progress.sha256 else None
        if progress.status is ImageStatus.RESTART:
            self.images.restarted += 1
            self.store.restart_image(progress.sha256)
            if current is not None:
                current.confirmed = current.sent = current.persisted = 0
                current.progressed_at = now
            return
        if progress.status is ImageStatus.UNKNOWN:
            self._unknown[progress.sha256] = now + UNKNOWN_RETRY_S
            if current is not None:
                self._image = None
            return
        complete = progress.status is ImageStatus.COMPLETE
        if current is None or complete or progress.have - current.persisted >= PROGRESS_PERSIST_BYTES:
            self.store.set_image_progress(progress.sha256, progress.have, complete=complete)
            if current is not None:
                current.persisted = max(current.persisted, progress.have)
        if current is None:
            return
        if complete:
            self.images.completed += 1
            self._image = None
            return
        current.confirmed = max(current.confirmed, progress.have)
        current.sent = max(current.sent, current.confirmed)
        current.progressed_at = now

    def request_resend(self, stream: Stream, first: int, last: int) -> None:
        """The hub asked (by command) for a range again."""
        self.streams[stream].resend.append((first, last))

    def pump(self, now: float) -> int:
        """Send what the window and the rate cap allow; returns the number of batches published."""
        self.messages.refill(now)
        self.bytes.refill(now)
        published = 0
        records_waiting = False
        for stream in PRIORITY:
            state = self.streams[stream]
            if state.inflight and now - state.inflight[0][1] > self.settings.ack_timeout_s:
                log.warning(
                    "no ack for %s batch up to %d: sending again from the last ack", stream, state.inflight[0][0]
                )
                state.sent_upto = self.store.acked_upto(stream)
                state.inflight.clear()
            while len(state.inflight) < self.settings.window:
                sent = self._send_one(stream, state, now)
                if sent is None:
                    break
                if not sent:
                    return published  # rate cap or link down: the lower streams wait too
                published += 1
            if len(state.inflight) >= self.settings.window and self._records(stream, state)[0]:
                records_waiting = True  # a record stream's window is full with more to send
        if records_waiting:
            return published  # images go only when every record is sent: a backlog of records drains first
        return published + self._pump_images(now)

    def _next_image(self, now: float) -> _ImageState | None:
        if self._image is None:
            self._unknown = {sha: until for sha, until in self._unknown.items() if until > now}
            for pending in self.store.pending_images(limit=len(self._unknown) + 1):
                if pending.sha256 not in self._unknown:
                    self._image = _ImageState(
                        pending.sha256, pending.size, pending.hub_has, pending.hub_has, now, pending.hub_has
                    )
                    break
        return self._image

    def _pump_images(self, now: float) -> int:
        """Chunks of the oldest image not confirmed, as far as the window, the rate cap and the link allow."""
        image = self._next_image(now)
        if image is None:
            return 0
        if image.sent > image.confirmed and now - image.progressed_at > self.settings.ack_timeout_s:
            log.warning("no progress on image %s at %d bytes: sending again from there", image.sha256[:12],
                        image.confirmed)  # fmt: skip
            self.images.resumed += 1
            image.sent = image.confirmed
            image.progressed_at = now
        published = 0
        chunk_bytes = self.settings.image_chunk_bytes
        while image.sent < image.size and image.sent - image.confirmed < self.settings.image_window_bytes:
            if not self.settled():
                break
            data = self.store.image_chunk(image.sha256, image.sent, chunk_bytes)
            if not data:  # no longer held: nothing to send
                self._image = None
                break
            payload = encode_chunk(Chunk(image.sha256, image.size, image.sent, data))
            if not self.messages.take(1) or not self.bytes.take(len(payload)):
                break
            if not self.publish(up(self.device_id, Stream.SNAPSHOTS), payload):
                break
            if image.sent == image.confirmed:
                image.progressed_at = now  # the progress clock starts with the first unanswered chunk
            image.sent += len(data)
            self.images.chunks += 1
            self.images.bytes += len(data)
            published += 1
        return published

    def _records(self, stream: Stream, state: _StreamState) -> tuple[list[tuple[int, dict[str, Any]]], bool]:
        limit = self.settings.batch_records
        while state.resend:
            first, last = state.resend[0]
            rows = [r for r in self.store.unacked_records(stream, after=first - 1, limit=limit) if r[0] <= last]
            if rows:
                return rows, True
            state.resend.popleft()
        return self.store.unacked_records(stream, after=state.sent_upto, limit=limit), False

    def _send_one(self, stream: Stream, state: _StreamState, now: float) -> bool | None:
        """None: nothing to send; False: could not send now; True: one batch published."""
        rows, resending = self._records(stream, state)
        if not rows:
            return None
        batch, data = self._seal(stream, rows)
        if not self.messages.take(1) or not self.bytes.take(len(data)):
            return False
        if not self.publish(up(self.device_id, stream), data):
            return False
        self.sent_batches += 1
        if resending:
            self.resent_batches += 1
            last = state.resend[0][1]
            if batch.last_seq >= last:
                state.resend.popleft()
            else:
                state.resend[0] = (batch.last_seq + 1, last)
        else:
            state.sent_upto = batch.last_seq
            state.inflight.append((batch.last_seq, now))
        return True

    def _seal(self, stream: Stream, rows: list[tuple[int, dict[str, Any]]]) -> tuple[Batch, bytes]:
        """The largest batch of ``rows`` (from the oldest) that fits the byte cap."""
        count = len(rows)
        while True:
            records = tuple(Record(seq, fields) for seq, fields in rows[:count])
            batch = Batch(self.device_id, stream, self.boot, records)
            try:
                data = seal_batch(batch, self.device_key)
            except BatchError:
                data = b""
            if data and (len(data) <= self.settings.batch_bytes or count == 1):
                return batch, data
            count = max(1, count // 2)
