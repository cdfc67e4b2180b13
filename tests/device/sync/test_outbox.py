"""The outbox: oldest first, forget only on the hub's ack, resend after a reconnect or a lost ack, window, rate cap,
missing ranges sent again."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric import ed25519
from sqlite_utils import Database

from device.store import DeviceStore, ScanEvent
from device.sync.outbox import Outbox, OutboxSettings
from protocol.envelope import open_batch
from protocol.messages import Ack
from protocol.topics import Stream

KEY = ed25519.Ed25519PrivateKey.generate()
BOOT = bytes(16)


class Wire:
    def __init__(self) -> None:
        self.up = True
        self.sent: list[tuple[str, bytes]] = []

    def publish(self, topic: str, data: bytes) -> bool:
        if not self.up:
            return False
        self.sent.append((topic, data))
        return True

    def seqs(self) -> list[list[int]]:
        return [
            [r.seq for r in open_batch(data, KEY.public_key(), device="scanner-01").records] for _, data in self.sent
        ]


def make(events: int, **settings: float) -> tuple[Outbox, DeviceStore, Wire]:
    store = DeviceStore(Database(memory=True))
    boot = store.start_boot()
    for i in range(events):
        store.record_event(boot, ScanEvent(at=1.8e9 + i, time_source="ntp", decision="pass", reason="ok"))
    wire = Wire()
    values = {"batch_records": 10, "window": 2, "rate_messages_s": 1000.0, "rate_bytes_s": 10**9, **settings}
    outbox = Outbox(
        store, wire.publish, device_id="scanner-01", device_key=KEY, boot=BOOT,
        settings=OutboxSettings(**values),  # type: ignore[arg-type]
        now=0.0,
    )  # fmt: skip
    return outbox, store, wire


def test_oldest_first_within_the_window() -> None:
    outbox, _store, wire = make(35)
    assert outbox.pump(1.0) == 2
    assert wire.seqs() == [list(range(1, 11)), list(range(11, 21))]
    assert outbox.pump(2.0) == 0  # window full until the hub acks


def test_only_the_hubs_ack_lets_the_store_forget() -> None:
    outbox, store, wire = make(25)
    outbox.pump(1.0)
    assert store.backlog(Stream.EVENTS) == 25
    outbox.on_ack(Ack(Stream.EVENTS, 10))
    assert store.backlog(Stream.EVENTS) == 15
    outbox.pump(2.0)
    assert wire.seqs()[-1] == list(range(21, 26))


def test_a_reconnect_sends_everything_unacknowledged_again() -> None:
    outbox, _store, wire = make(20)
    outbox.pump(1.0)
    outbox.on_ack(Ack(Stream.EVENTS, 10))
    outbox.reset()
    wire.sent.clear()
    outbox.pump(2.0)
    assert wire.seqs() == [list(range(11, 21))]


def test_a_lost_ack_times_out_and_sends_again() -> None:
    outbox, _store, wire = make(10, ack_timeout_s=5.0)
    outbox.pump(1.0)
    wire.sent.clear()
    outbox.pump(3.0)
    assert wire.sent == []
    outbox.pump(7.0)
    assert wire.seqs() == [list(range(1, 11))]


def test_link_down_keeps_everything_for_later() -> None:
    outbox, store, wire = make(10)
    wire.up = False
    assert outbox.pump(1.0) == 0
    wire.up = True
    assert outbox.pump(2.0) == 1
    assert store.backlog(Stream.EVENTS) == 10


def test_missing_ranges_are_sent_again_first() -> None:
    outbox, _store, wire = make(40, window=4)
    outbox.pump(1.0)
    wire.sent.clear()
    outbox.on_ack(Ack(Stream.EVENTS, 10, missing=((14, 16),)))
    outbox.pump(2.0)
    assert wire.seqs()[0] == [14, 15, 16]


def test_the_rate_cap_holds_back_batches() -> None:
    outbox, _store, wire = make(100, window=10, rate_messages_s=2.0)
    assert outbox.pump(0.0) == 2
    assert outbox.pump(0.5) == 1
    assert len(wire.sent) == 3


def test_batches_respect_the_byte_cap() -> None:
    outbox, _store, wire = make(50, batch_records=50, batch_bytes=2048, window=1)
    outbox.pump(1.0)
    assert len(wire.sent[0][1]) <= 2048
    assert 1 < len(wire.seqs()[0]) < 50
