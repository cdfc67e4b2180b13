"""Key rotation at the hub (one transaction: verify both signatures and the command, swap, audit, answer) and an
operator resolving a replaced store; on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from sqlalchemy.engine import Engine

from hub.accounts.roles import Role
from hub.operations.audit import Actor, Outcome, entries
from hub.operations.commands import get_command, send
from hub.operations.errors import ConflictError, ForbiddenError
from hub.operations.identity import accept_rotation, resolve_store
from hub.storage import identity
from hub.storage.devices import enrol, enrolled_key
from hub.storage.ingest import store_batch
from protocol import topics
from protocol.identity import RotationOutcome, parse_renumber, seal_rotation
from protocol.keys import kid_of_public_key, spki_der
from protocol.messages import Command, parse_command
from protocol.topics import Stream
from tests.hub.storage.support import cose, records

DEVICE = "scanner-01"
T0 = 1_800_000_000.0
OPERATOR = Actor("alice", Role.OPERATOR, "local")


@dataclass
class Published:
    messages: list[tuple[str, bytes]] = field(default_factory=list)

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> bool:
        assert not retain
        self.messages.append((topic, payload))
        return True


def _enrolled(engine: Engine) -> ed25519.Ed25519PrivateKey:
    key = ed25519.Ed25519PrivateKey.generate()
    enrol(engine, DEVICE, spki_der(key.public_key()), profile="scanner", now=T0)
    return key


def _kid(key: ed25519.Ed25519PrivateKey) -> bytes:
    return kid_of_public_key(key.public_key())


def _rotate_command(engine: Engine, ttl_s: float = 3600.0) -> str:
    return send(engine, OPERATOR, DEVICE, Command.ROTATE_KEY, {}, now=T0, publisher=None, ttl_s=ttl_s).id


def test_a_rotation_swaps_the_key_audits_it_and_answers(ops_engine: Engine) -> None:
    old, new = _enrolled(ops_engine), ed25519.Ed25519PrivateKey.generate()
    command = _rotate_command(ops_engine)
    reply = accept_rotation(ops_engine, DEVICE, seal_rotation(DEVICE, command, old, new), now=T0 + 1)
    assert reply.rotated and reply.refusal is None
    assert reply.answer is not None
    assert (reply.answer.outcome, reply.answer.kid, reply.answer.command) == (
        RotationOutcome.ROTATED,
        _kid(new),
        command,
    )
    key = enrolled_key(ops_engine, DEVICE)
    assert key is not None and kid_of_public_key(key) == _kid(new)
    view = get_command(ops_engine, command)
    assert view.result_ok is True and view.result_detail is not None and _kid(new).hex() in view.result_detail
    retired = identity.retired_key(ops_engine, DEVICE, _kid(old))
    assert retired is not None and retired.replaced_by == _kid(new).hex() and retired.command_id == command
    [audit] = entries(ops_engine, action="device.key_rotated")
    assert (audit.actor, audit.target) == ("alice", f"device:{DEVICE}")


def test_the_same_rotation_again_is_answered_again_and_changes_nothing(ops_engine: Engine) -> None:
    old, new = _enrolled(ops_engine), ed25519.Ed25519PrivateKey.generate()
    message = seal_rotation(DEVICE, _rotate_command(ops_engine), old, new)
    accept_rotation(ops_engine, DEVICE, message, now=T0 + 1)
    again = accept_rotation(ops_engine, DEVICE, message, now=T0 + 2)  # another worker, or the terminal resending
    assert not again.rotated and again.refusal is None
    assert again.answer is not None and again.answer.outcome is RotationOutcome.ROTATED
    assert len(identity.key_history(ops_engine, DEVICE)) == 1
    assert len(entries(ops_engine, action="device.key_rotated")) == 1


def test_the_old_key_can_rotate_nothing_after_the_swap(ops_engine: Engine) -> None:
    """A thief holding the old key cannot move the terminal to a key of their own afterwards."""
    old, new = _enrolled(ops_engine), ed25519.Ed25519PrivateKey.generate()
    accept_rotation(ops_engine, DEVICE, seal_rotation(DEVICE, _rotate_command(ops_engine), old, new), now=T0 + 1)
    thief = ed25519.Ed25519PrivateKey.generate()
    reply = accept_rotation(ops_engine, DEVICE, seal_rotation(DEVICE, _rotate_command(ops_engine), old, thief),
                            now=T0 + 2)  # fmt: skip
    assert reply.refusal == "rotation_wrong_key" and reply.answer is None
    key = enrolled_key(ops_engine, DEVICE)
    assert key is not None and kid_of_public_key(key) == _kid(new)


@pytest.mark.parametrize("case", ["unknown", "expired", "answered", "not_rotate"])
def test_a_rotation_without_an_open_command_is_refused_and_nothing_changes(ops_engine: Engine, case: str) -> None:
    old, new = _enrolled(ops_engine), ed25519.Ed25519PrivateKey.generate()
    if case == "unknown":
        command = "no-such-command"
    elif case == "expired":
        command = _rotate_command(ops_engine, ttl_s=10.0)
    elif case == "answered":
        command = _rotate_command(ops_engine)
        accept_rotation(ops_engine, DEVICE, seal_rotation(DEVICE, command, old, new), now=T0 + 1)
        old, new = new, ed25519.Ed25519PrivateKey.generate()
    else:
        command = send(ops_engine, OPERATOR, DEVICE, Command.SYNC_NOW, {}, now=T0, publisher=None).id
    held = enrolled_key(ops_engine, DEVICE)
    reply = accept_rotation(ops_engine, DEVICE, seal_rotation(DEVICE, command, old, new), now=T0 + 60)
    assert reply.refusal == "rotation_refused" and not reply.rotated
    assert reply.answer is not None and reply.answer.outcome is RotationOutcome.REFUSED
    assert reply.answer.kid == _kid(new)
    after = enrolled_key(ops_engine, DEVICE)
    assert held is not None and after is not None and kid_of_public_key(after) == kid_of_public_key(held)
    if case == "expired":
        view = get_command(ops_engine, command)
        assert view.result_ok is False and view.result_detail is not None and "expired" in view.result_detail


def test_garbage_and_unknown_devices_are_refused(ops_engine: Engine) -> None:
    old = _enrolled(ops_engine)
    assert accept_rotation(ops_engine, DEVICE, b"\xd2garbage", now=T0).refusal == "rotation_bad_cose"
    message = seal_rotation("scanner-02", "c", old, ed25519.Ed25519PrivateKey.generate())
    assert accept_rotation(ops_engine, "scanner-02", message, now=T0).refusal == "unknown_device"
    assert accept_rotation(ops_engine, DEVICE, message, now=T0).refusal == "rotation_wrong_topic"


def test_resolving_a_replaced_store_is_audited_and_tells_the_terminal_where_to_go_on(ops_engine: Engine) -> None:
    _enrolled(ops_engine)
    identity.admit(ops_engine, DEVICE, "0a0a0a0a", now=T0, store_id="0a0a0a0a" + "0" * 24)  # its birth
    store_batch(ops_engine, DEVICE, Stream.EVENTS, cose(1, 2, 3), records(1, 2, 3), now=T0)
    publisher = Published()
    with pytest.raises(ConflictError):
        resolve_store(ops_engine, OPERATOR, DEVICE, now=T0, publisher=publisher)
    assert identity.admit(ops_engine, DEVICE, "0b0b0b0b", now=T0 + 1, first_seq=1) == identity.STORE_REPLACED
    with pytest.raises(ForbiddenError):
        resolve_store(ops_engine, Actor("bob", Role.VIEWER), DEVICE, now=T0 + 2, publisher=publisher)
    done = resolve_store(ops_engine, OPERATOR, DEVICE, now=T0 + 2, publisher=publisher)
    assert done.command.published and done.command.command == "renumber"
    [(topic, payload)] = publisher.messages
    assert topic == topics.down(DEVICE, topics.Down.CMD)
    command = parse_command(payload)
    assert command.command is Command.RENUMBER
    renumber = parse_renumber(command.args)
    assert renumber.store_tag == "0b0b0b0b" and renumber.bases[Stream.EVENTS] == 3
    audits = entries(ops_engine, action="device.store_resolved")
    assert [a.outcome for a in audits] == [Outcome.OK, Outcome.REFUSED, Outcome.REFUSED]  # newest first
    audit = audits[0]
    assert audit.detail is not None and "events > 3" in audit.detail
    again = resolve_store(ops_engine, OPERATOR, DEVICE, now=T0 + 3, publisher=publisher)
    assert again.resolution.again and len(publisher.messages) == 2
