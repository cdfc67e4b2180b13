"""The sync thread's side of ``rotate_key`` and ``renumber``: what it writes, sends, holds back and answers."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from sqlite_utils import Database

from device.clock import ClockTrust, FakeClock
from device.keys_rotation import KeyRotation, write_secret
from device.lists.source import StoredLists
from device.lists.trust_store import TrustStore
from device.store import DeviceStore, ScanEvent
from device.sync.link import BrokerSettings, DeviceLink
from device.sync.outbox import Outbox, OutboxSettings
from device.sync.service import SyncService
from protocol import topics
from protocol.identity import (
    Renumber,
    RotationAnswer,
    RotationOutcome,
    is_rotation,
    open_rotation,
    renumber_args,
    rotation_answer,
)
from protocol.keys import kid_of_public_key, load_private_key_pem, private_key_pem
from protocol.messages import Command, CommandMessage, encode_command, parse_result
from protocol.topics import Stream
from protocol.trustlist import TrustList

DEVICE = "scanner-01"


class Synced:
    def synchronized(self) -> bool:
        return True


@dataclass
class FakeLink:
    """What the sync thread publishes (connected throughout)."""

    sent: list[tuple[str, bytes]] = field(default_factory=list)
    connected: bool = True

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> bool:
        assert not retain
        self.sent.append((topic, payload))
        return True


@dataclass
class Rig:
    service: SyncService
    outbox: Outbox
    link: FakeLink
    store: DeviceStore
    key_file: Path
    clock: FakeClock


@pytest.fixture
def rig(tmp_path: Path) -> Rig:
    key_file = tmp_path / "device.key.pem"
    key = ed25519.Ed25519PrivateKey.generate()
    write_secret(key_file, private_key_pem(key))
    store = DeviceStore(Database(memory=True))
    boot = store.start_boot()
    fake = FakeClock()
    clock = ClockTrust(fake, store, Synced())
    root = ed25519.Ed25519PrivateKey.generate().public_key()
    lists = StoredLists(TrustStore(tmp_path / "trust", root, TrustList.empty()), None, store)
    service = SyncService(
        device_id=DEVICE, boot=bytes.fromhex(boot), device_key=key,
        broker=BrokerSettings("127.0.0.1", 1883, DEVICE, "pw"), outbox_settings=OutboxSettings(),
        open_store=lambda: store, lists=lists, root_key=root, list_id="CN-SH-PD", clock=clock,
        birth_info=lambda _store: {}, rotation=KeyRotation.load(key_file, key, DEVICE),
    )  # fmt: skip
    outbox = Outbox(store, lambda _topic, _data: True, device_id=DEVICE, device_key=key, boot=bytes.fromhex(boot),
                    settings=OutboxSettings(), now=fake.monotonic())  # fmt: skip
    link = FakeLink()
    service.link = cast(DeviceLink, link)
    return Rig(service, outbox, link, store, key_file, fake)


def _command(rig: Rig, message: CommandMessage) -> None:
    rig.service._command(encode_command(message), rig.outbox)


def test_rotate_key_writes_the_pending_key_holds_batches_and_sends_the_rotation(rig: Rig) -> None:
    old = rig.service.device_key
    _command(rig, CommandMessage("cmd-1", Command.ROTATE_KEY))
    rotation = rig.service.rotation
    assert rotation is not None and rotation.pending is not None
    assert rotation.pending_file.exists()
    assert rig.link.sent == []  # no result: the rotation message answers
    assert rig.service._holding()
    rig.service._rotation_step(rig.outbox)
    [(topic, payload)] = rig.link.sent
    assert topic == topics.result(DEVICE) and is_rotation(payload)
    assert open_rotation(payload, old.public_key(), device=DEVICE).command == "cmd-1"
    rig.service._rotation_step(rig.outbox)
    assert len(rig.link.sent) == 1  # not again before RESEND_S
    rig.clock.advance(10.0)
    rig.service._rotation_step(rig.outbox)
    assert len(rig.link.sent) == 2 and rig.link.sent[1][1] == payload


def test_rotated_makes_the_new_key_current_everywhere(rig: Rig) -> None:
    old = rig.service.device_key
    _command(rig, CommandMessage("cmd-1", Command.ROTATE_KEY))
    rotation = rig.service.rotation
    assert rotation is not None and rotation.pending is not None
    new_kid = rotation.pending.kid
    _command(rig, rotation_answer(RotationAnswer("cmd-1", RotationOutcome.ROTATED, b"\x00" * 8)))
    assert rig.service.device_key is old  # an answer about another key changes nothing
    _command(rig, rotation_answer(RotationAnswer("cmd-1", RotationOutcome.ROTATED, new_kid)))
    assert kid_of_public_key(rig.service.device_key.public_key()) == new_kid
    assert rig.outbox.device_key is rig.service.device_key
    on_disk = load_private_key_pem(rig.key_file.read_bytes())
    assert isinstance(on_disk, ed25519.Ed25519PrivateKey)
    assert kid_of_public_key(on_disk.public_key()) == new_kid
    assert not rig.service._holding()


def test_refused_drops_the_pending_key_and_keeps_the_old_one(rig: Rig) -> None:
    old = rig.service.device_key
    _command(rig, CommandMessage("cmd-1", Command.ROTATE_KEY))
    rotation = rig.service.rotation
    assert rotation is not None and rotation.pending is not None
    _command(rig, rotation_answer(RotationAnswer("cmd-1", RotationOutcome.REFUSED, rotation.pending.kid, "expired")))
    assert not rotation.pending_file.exists()
    assert rig.service.device_key is old
    assert not rig.service._holding()


def test_an_expired_rotate_key_is_answered_and_begins_nothing(rig: Rig) -> None:
    _command(rig, CommandMessage("cmd-1", Command.ROTATE_KEY, expires=rig.clock.now - 1))
    [(topic, payload)] = rig.link.sent
    assert topic == topics.result(DEVICE)
    assert parse_result(payload).ok is False
    assert rig.service.rotation is not None and rig.service.rotation.pending is None


def test_renumber_moves_the_records_of_this_store_only(rig: Rig) -> None:
    boot = rig.store.get_meta("boot_id")
    assert boot is not None
    for i in range(3):
        rig.store.record_event(boot, ScanEvent(at=1.0 + i, time_source="ntp", decision="pass", reason="ok"))
    other = Renumber("ffffffff" if not rig.store.store_id().startswith("ffffffff") else "eeeeeeee", {Stream.EVENTS: 9})
    _command(rig, CommandMessage("cmd-1", Command.RENUMBER, renumber_args(other)))
    _command(rig, CommandMessage("cmd-2", Command.RENUMBER, {"store": "nope"}))
    mine = Renumber(rig.store.store_id()[:8], {Stream.EVENTS: 9})
    _command(rig, CommandMessage("cmd-3", Command.RENUMBER, renumber_args(mine)))
    answers = [parse_result(payload) for _topic, payload in rig.link.sent]
    assert [(a.id, a.ok) for a in answers] == [("cmd-1", False), ("cmd-2", False), ("cmd-3", True)]
    assert [seq for seq, _fields in rig.store.unacked_records(Stream.EVENTS)] == [10, 11, 12]
