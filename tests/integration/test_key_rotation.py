"""``rotate_key`` end to end through a real mosquitto: a terminal process makes a new key, the hub swaps it in one
transaction, the terminal makes it current; records written around the rotation all arrive exactly once, what is sent
afterwards verifies under the new key only, and the old key's signatures are refused from then on."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric import ed25519

from device.keys_rotation import PENDING_SUFFIX
from device.store import DeviceStore, ScanEvent, open_database
from hub.accounts.roles import Role
from hub.operations.audit import Actor, entries
from hub.operations.commands import get_command, send
from hub.storage.devices import enrolled_key
from hub.storage.identity import key_history
from hub.storage.ingest import refusal_counts
from hub.storage.models import Batch
from hub.storage.presence import get_presence
from protocol import topics
from protocol.envelope import BatchError, open_batch
from protocol.keys import kid_of_public_key, load_private_key_pem
from protocol.messages import Command, DeviceState, StateMessage, seal_state
from protocol.topics import Stream
from tests.integration.rig import Children, InProcessHub, Site, Terminal, exactly_once, sealed_batch, wait_for

DEVICE = "scanner-01"
OPERATOR = Actor("alice", Role.OPERATOR, "local")


@pytest.fixture
def hub(site: Site) -> Iterator[InProcessHub]:
    """One hub worker in the test process (its link publishes the command; its counters are read)."""
    worker = InProcessHub(site).start()
    try:
        yield worker
    finally:
        worker.stop()


def record_events(terminal: Terminal, count: int, tag: str) -> None:
    """Scan events written into the running terminal's store (a connection of the test's own)."""
    store = DeviceStore(open_database(terminal.database))
    try:
        boot = store.get_meta("boot_id")
        assert boot is not None
        for i in range(count):
            event = ScanEvent(at=time.time(), time_source="ntp", decision="pass", reason="ok", rid=f"{tag}{i:030x}")
            assert store.record_event(boot, event) is not None
    finally:
        store.db.close()


def key_on_disk(terminal: Terminal) -> ed25519.Ed25519PrivateKey:
    key = load_private_key_pem((terminal.data_dir / "device.key.pem").read_bytes())
    assert isinstance(key, ed25519.Ed25519PrivateKey)
    return key


def test_a_rotation_end_to_end(site: Site, hub: InProcessHub, children: Children, tmp_path: Path) -> None:
    terminal = Terminal(site, site.enrol(DEVICE), tmp_path / "terminals", children, {"batch_records": 20})
    old = terminal.identity.key
    old_kid = kid_of_public_key(old.public_key())
    terminal.prefill(100)
    terminal.start()
    wait_for(lambda: terminal.counts().acked_upto == 100, f"the backlog drained\n{terminal.log()}")

    command = send(site.engine, OPERATOR, DEVICE, Command.ROTATE_KEY, {}, now=time.time(), publisher=hub.link)
    assert command.published
    record_events(terminal, 30, "aa")  # written while the rotation runs: held or sent, never lost

    wait_for(lambda: get_command(site.engine, command.id).result_ok is not None, f"rotation answered\n{terminal.log()}")
    answered = get_command(site.engine, command.id)
    assert answered.result_ok is True, answered.result_detail
    hub_key = enrolled_key(site.engine, DEVICE)
    assert hub_key is not None
    new_kid = kid_of_public_key(hub_key)
    assert new_kid != old_kid
    pending = terminal.data_dir / f"device.key.pem{PENDING_SUFFIX}"
    wait_for(lambda: kid_of_public_key(key_on_disk(terminal).public_key()) == new_kid and not pending.exists(),
             f"the terminal made the new key current\n{terminal.log()}")  # fmt: skip

    record_events(terminal, 20, "bb")  # after the rotation
    wait_for(lambda: terminal.counts().acked_upto == 150, f"everything acknowledged\n{terminal.log()}")
    exactly_once(site.engine, DEVICE, 150)

    # every batch the hub stored verifies under exactly one of the keys; the last ones under the new key only
    with site.engine.connect() as conn:
        stored = conn.execute(sa.select(Batch.last_seq, Batch.cose).where(Batch.device_id == DEVICE)).all()
    under_new = [last for last, data in stored if _verifies(bytes(data), hub_key)]
    under_old = [last for last, data in stored if _verifies(bytes(data), old.public_key())]
    assert len(under_new) + len(under_old) == len(stored)
    assert max(under_new) == 150 and (not under_old or max(under_old) < 150)

    # the old key's signatures are refused from now on, with a reason of their own; nothing is stored
    hub.ingest.handle(topics.up(DEVICE, Stream.EVENTS), sealed_batch(terminal.identity, range(151, 161)))
    state = StateMessage(DEVICE, DeviceState.ONLINE, bytes(16), time.time(), {})
    hub.ingest.handle(topics.state(DEVICE), seal_state(state, old))
    exactly_once(site.engine, DEVICE, 150)
    counts = {(row.device_id, row.reason): row.count for row in refusal_counts(site.engine)}
    assert counts == {(DEVICE, "retired_key"): 2}, "only the two forged messages were refused"

    [retired] = key_history(site.engine, DEVICE)
    assert (retired.kid, retired.replaced_by, retired.command_id) == (old_kid.hex(), new_kid.hex(), command.id)
    assert len(entries(site.engine, action="device.key_rotated")) == 1

    terminal.stop()  # its clean stop is sealed with the new key: the hub takes it
    wait_for(lambda: _state(site) is DeviceState.STOPPED, "the clean stop recorded")


def test_a_terminal_killed_before_it_heard_the_answer_finishes_the_rotation(
    site: Site, hub: InProcessHub, children: Children, tmp_path: Path
) -> None:
    """The worst crash: the hub swapped (committed) but its answer never reached the terminal, which then lost power.
    On restart the terminal still signs with the old key and holds the new one as pending: it sends the rotation
    again (signed by the key now retired), the hub recognises the very rotation it took and answers again, and the
    terminal goes on under the new key. Nothing is lost; only the restart's old-key birth is refused."""
    terminal = Terminal(site, site.enrol(DEVICE), tmp_path / "terminals", children, {"batch_records": 20})
    old_kid = kid_of_public_key(terminal.identity.public_key)
    terminal.prefill(40)
    terminal.start()
    wait_for(lambda: terminal.counts().acked_upto == 40, f"the backlog drained\n{terminal.log()}")

    lost_answers: list[bytes] = []
    answering = threading.Event()
    publish = hub.ingest.publish

    def losing_answers(topic: str, payload: bytes) -> bool:
        if topics.parse(topic).down is topics.Down.CMD and not answering.is_set():
            lost_answers.append(payload)
            return False
        return publish(topic, payload)

    hub.ingest.publish = losing_answers
    command = send(site.engine, OPERATOR, DEVICE, Command.ROTATE_KEY, {}, now=time.time(), publisher=hub.link)
    wait_for(lambda: get_command(site.engine, command.id).result_ok is True, f"the hub swapped\n{terminal.log()}")
    wait_for(lambda: bool(lost_answers), "the answer was lost")
    pending = terminal.data_dir / f"device.key.pem{PENDING_SUFFIX}"
    assert pending.exists()
    assert kid_of_public_key(key_on_disk(terminal).public_key()) == old_kid
    terminal.kill()

    answering.set()
    record_events(terminal, 10, "cc")
    terminal.start()
    hub_key = enrolled_key(site.engine, DEVICE)
    assert hub_key is not None
    wait_for(lambda: kid_of_public_key(key_on_disk(terminal).public_key()) == kid_of_public_key(hub_key)
             and not pending.exists(), f"the terminal made the new key current\n{terminal.log()}")  # fmt: skip
    wait_for(lambda: terminal.counts().acked_upto == 50, f"everything acknowledged\n{terminal.log()}")
    exactly_once(site.engine, DEVICE, 50)
    reasons = {row.reason for row in refusal_counts(site.engine)}
    assert reasons <= {"retired_key"}, f"only old-key messages of the restart were refused: {reasons}"
    assert len(key_history(site.engine, DEVICE)) == 1
    terminal.stop()


def _verifies(data: bytes, key: ed25519.Ed25519PublicKey) -> bool:
    try:
        open_batch(data, key, device=DEVICE)
    except BatchError:
        return False
    return True


def _state(site: Site) -> DeviceState | None:
    presence = get_presence(site.engine, DEVICE)
    return None if presence is None else presence.state
