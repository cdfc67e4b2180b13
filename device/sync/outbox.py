"""The durable outbox: sends what the store holds, forgets it only when the hub's ack says it is stored.

A PUBACK only means the broker has the message; the hub's ``ack`` (``down/ack``) says the record is durably stored,
and only that moves the store's ``acked_upto``. Records go oldest first per stream, streams by priority (scan events,
then incidents, then images), within a window of unacknowledged batches and a rate cap in messages and bytes per
second, so a week of backlog drains steadily without flooding the broker. A batch unacknowledged for too long, or a
reconnect, sends again from the last acknowledged record; the hub stores each (device, stream, seq) once, so sending
twice costs bandwidth, never correctness. Ranges the hub reports missing are sent again first.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric import ed25519

from device.store import DeviceStore, StoredEvent
from protocol.envelope import Batch, BatchError, Record, seal_batch
from protocol.messages import Ack
from protocol.records import ScanRecord
from protocol.topics import Stream, up

log = logging.getLogger(__name__)

PRIORITY = (Stream.EVENTS, Stream.INCIDENTS, Stream.SNAPSHOTS)


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
        self.sent_batches = 0
        self.resent_batches = 0
        self.reset()

    def reset(self) -> None:
        """After a (re)connect: everything not acknowledged is sent again, oldest first."""
        for stream, state in self.streams.items():
            state.sent_upto = self.store.acked_upto(stream)
            state.inflight.clear()

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

    def request_resend(self, stream: Stream, first: int, last: int) -> None:
        """The hub asked (by command) for a range again."""
        self.streams[stream].resend.append((first, last))

    def pump(self, now: float) -> int:
        """Send what the window and the rate cap allow; returns the number of batches published."""
        self.messages.refill(now)
        self.bytes.refill(now)
        published = 0
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
        return published

    def _records(self, stream: Stream, state: _StreamState) -> tuple[list[StoredEvent], bool]:
        if stream is not Stream.EVENTS:
            return [], False  # incidents and images join with their own stores
        while state.resend:
            first, last = state.resend[0]
            rows = [
                r
                for r in self.store.unacked_events(after=first - 1, limit=self.settings.batch_records)
                if r.seq <= last
            ]
            if rows:
                return rows, True
            state.resend.popleft()
        return self.store.unacked_events(after=state.sent_upto, limit=self.settings.batch_records), False

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

    def _seal(self, stream: Stream, rows: list[StoredEvent]) -> tuple[Batch, bytes]:
        """The largest batch of ``rows`` (from the oldest) that fits the byte cap."""
        count = len(rows)
        while True:
            records = tuple(Record(row.seq, _fields(row)) for row in rows[:count])
            batch = Batch(self.device_id, stream, self.boot, records)
            try:
                data = seal_batch(batch, self.device_key)
            except BatchError:
                data = b""
            if data and (len(data) <= self.settings.batch_bytes or count == 1):
                return batch, data
            count = max(1, count // 2)


def _fields(row: StoredEvent) -> dict[str, object]:
    event = row.event
    return ScanRecord(
        boot=row.boot_id,
        at=event.at,
        time_source=event.time_source,
        decision=event.decision,
        reason=event.reason,
        kind=event.kind,
        iss=event.iss,
        status=event.status,
        rid=event.rid,
        latency_ms=event.latency_ms,
    ).fields()
