"""Rotation messages, the hub's answers, store tags and renumber arguments: round trips, refusals and fuzz."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.codec import cbor_dumps
from protocol.cose import encode_sign1
from protocol.identity import (
    MAX_ROTATION_BYTES,
    POP_CONTEXT,
    Renumber,
    RotationAnswer,
    RotationError,
    RotationOutcome,
    RotationProblem,
    boot_for_store,
    check_store_id,
    is_rotation,
    open_rotation,
    parse_renumber,
    parse_rotation_answer,
    renumber_args,
    rotation_answer,
    rotation_kid,
    seal_rotation,
    store_id_of,
    store_tag,
)
from protocol.keys import kid_of_public_key, spki_der
from protocol.messages import Command, CommandMessage, CommandResult, encode_result
from protocol.topics import Stream

DEVICE = "scanner-01"
OLD = ed25519.Ed25519PrivateKey.generate()
NEW = ed25519.Ed25519PrivateKey.generate()
STORE = "0123456789abcdef0123456789abcdef"


def test_a_rotation_verifies_under_the_old_key_and_names_the_new_one() -> None:
    data = seal_rotation(DEVICE, "cmd-1", OLD, NEW)
    assert is_rotation(data)
    assert rotation_kid(data) == kid_of_public_key(OLD.public_key())
    rotation = open_rotation(data, OLD.public_key(), device=DEVICE)
    assert rotation.device == DEVICE
    assert rotation.command == "cmd-1"
    assert rotation.new_spki == spki_der(NEW.public_key())
    assert rotation.old_kid == kid_of_public_key(OLD.public_key())
    assert seal_rotation(DEVICE, "cmd-1", OLD, NEW) == data  # deterministic: a resend is the same message


def test_a_command_result_is_not_a_rotation() -> None:
    assert not is_rotation(encode_result(CommandResult("c", ok=True)))
    assert not is_rotation(b"")


def test_under_another_key_or_on_another_topic_it_is_refused() -> None:
    data = seal_rotation(DEVICE, "cmd-1", OLD, NEW)
    with pytest.raises(RotationError) as wrong:
        open_rotation(data, NEW.public_key(), device=DEVICE)
    assert wrong.value.problem is RotationProblem.WRONG_KEY
    with pytest.raises(RotationError) as topic:
        open_rotation(data, OLD.public_key(), device="scanner-02")
    assert topic.value.problem is RotationProblem.WRONG_TOPIC


def _forged(body: dict[str, object], signer: ed25519.Ed25519PrivateKey = OLD) -> bytes:
    return encode_sign1(cbor_dumps(body), signer)


def _body(**overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "v": 1, "type": "key-rotation", "dev": DEVICE, "cmd": "cmd-1", "new": spki_der(NEW.public_key()),
    }  # fmt: skip
    body.update(overrides)
    return body


def test_a_proof_by_another_key_is_refused() -> None:
    """The old key alone cannot move the terminal to a key whose private half the sender does not hold."""
    body = _body()
    other = ed25519.Ed25519PrivateKey.generate()
    body["pop"] = other.sign(POP_CONTEXT + cbor_dumps(_body()))
    with pytest.raises(RotationError) as refused:
        open_rotation(_forged(body), OLD.public_key(), device=DEVICE)
    assert refused.value.problem is RotationProblem.BAD_PROOF


def test_a_proof_for_another_command_or_device_is_refused() -> None:
    """The proof is bound to the command and the device: it cannot be lifted into another rotation."""
    body = _body(cmd="cmd-2")
    body["pop"] = NEW.sign(POP_CONTEXT + cbor_dumps(_body()))  # made for cmd-1
    with pytest.raises(RotationError) as refused:
        open_rotation(_forged(body), OLD.public_key(), device=DEVICE)
    assert refused.value.problem is RotationProblem.BAD_PROOF


@pytest.mark.parametrize(
    "body",
    [
        _body(v=2),
        _body(type="other"),
        _body(dev="Not An Id"),
        _body(cmd=""),
        _body(cmd="x" * 65),
        _body(new=b"not a key"),
        _body(new=b"x" * 200),
        _body(extra=1),
        _body(new=spki_der(OLD.public_key())),
    ],
)
def test_malformed_bodies_are_refused(body: dict[str, object]) -> None:
    body = {**body, "pop": NEW.sign(POP_CONTEXT + cbor_dumps(body))}
    with pytest.raises(RotationError) as refused:
        open_rotation(_forged(body), OLD.public_key(), device=DEVICE)
    assert refused.value.problem is RotationProblem.BAD_SCHEMA


def test_too_large_and_not_cose_are_refused() -> None:
    with pytest.raises(RotationError) as large:
        open_rotation(b"\xd2" + b"\x00" * MAX_ROTATION_BYTES, OLD.public_key(), device=DEVICE)
    assert large.value.problem is RotationProblem.TOO_LARGE
    with pytest.raises(RotationError) as cose:
        rotation_kid(b"\xd2\x00")
    assert cose.value.problem is RotationProblem.BAD_COSE


def test_a_tampered_signature_is_refused() -> None:
    data = bytearray(seal_rotation(DEVICE, "cmd-1", OLD, NEW))
    data[-1] ^= 1
    with pytest.raises(RotationError) as refused:
        open_rotation(bytes(data), OLD.public_key(), device=DEVICE)
    assert refused.value.problem is RotationProblem.BAD_SIGNATURE


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_fuzzed_rotations_are_refused_with_a_reason(data: bytes) -> None:
    with pytest.raises(RotationError):
        open_rotation(data, OLD.public_key(), device=DEVICE)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2000), st.integers(0, 255))
def test_any_single_byte_change_is_refused(position: int, flip: int) -> None:
    data = bytearray(seal_rotation(DEVICE, "cmd-1", OLD, NEW))
    index = position % len(data)
    if data[index] == flip:
        return
    data[index] = flip
    with pytest.raises(RotationError):
        open_rotation(bytes(data), OLD.public_key(), device=DEVICE)


@given(
    st.text(alphabet="abcdef0123456789-", min_size=1, max_size=64),
    st.sampled_from(list(RotationOutcome)),
    st.binary(min_size=8, max_size=8),
    st.text(max_size=200),
)
def test_answers_round_trip(command: str, outcome: RotationOutcome, kid: bytes, detail: str) -> None:
    message = rotation_answer(RotationAnswer(command, outcome, kid, detail))
    assert message.command is Command.ROTATE_KEY
    answer = parse_rotation_answer(message)
    assert answer == RotationAnswer(command, outcome, kid, detail[:120])


def test_a_rotate_key_request_is_not_an_answer() -> None:
    assert parse_rotation_answer(CommandMessage("c", Command.ROTATE_KEY, {})) is None
    assert parse_rotation_answer(CommandMessage("c", Command.REBOOT, {"outcome": "rotated"})) is None


@pytest.mark.parametrize(
    "args", [{"outcome": "maybe", "kid": "00" * 8}, {"outcome": "rotated", "kid": "zz"}, {"outcome": "rotated"}]
)
def test_malformed_answers_are_refused(args: dict[str, object]) -> None:
    with pytest.raises(RotationError):
        parse_rotation_answer(CommandMessage("c", Command.ROTATE_KEY, args))


# --- store identity ---------------------------------------------------------------------------------------------


@given(st.binary(min_size=16, max_size=16), st.binary(min_size=12, max_size=12))
def test_a_boot_carries_its_stores_tag(store: bytes, rest: bytes) -> None:
    boot = bytes.fromhex(boot_for_store(store.hex(), rest.hex()))
    assert len(boot) == 16
    assert store_tag(boot) == store.hex()[:8]
    assert store_id_of({"store": store.hex()}, boot) == store.hex()


def test_a_birth_store_id_that_does_not_match_its_boot_is_ignored() -> None:
    boot = bytes.fromhex(boot_for_store(STORE, "ab" * 12))
    assert store_id_of({"store": "f" * 32}, boot) is None
    assert store_id_of({"store": 5}, boot) is None
    assert store_id_of({}, boot) is None


@pytest.mark.parametrize("bad", ["", "ABCDEF0123456789ABCDEF0123456789", "0" * 31, "g" * 32])
def test_bad_store_ids_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="store id"):
        check_store_id(bad)


def test_a_short_random_part_is_refused() -> None:
    with pytest.raises(ValueError, match="random part"):
        boot_for_store(STORE, "ab")


@given(st.dictionaries(st.sampled_from(list(Stream)), st.integers(0, 2**63 - 2)))
def test_renumber_args_round_trip(bases: dict[Stream, int]) -> None:
    parsed = parse_renumber(renumber_args(Renumber(STORE[:8], bases)))
    assert parsed.store_tag == STORE[:8]
    assert parsed.bases == {stream: bases.get(stream, 0) for stream in Stream}


@pytest.mark.parametrize(
    "args",
    [{}, {"store": "XYZ"}, {"store": STORE[:8], "events": -1}, {"store": STORE[:8], "events": True},
     {"store": STORE[:8], "incidents": 2**63}, {"store": STORE[:8], "snapshots": "5"}],
)  # fmt: skip
def test_malformed_renumber_args_are_refused(args: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="renumber"):
        parse_renumber(args)


@settings(max_examples=200)
@given(st.dictionaries(st.text(max_size=12), st.one_of(st.integers(), st.text(max_size=40), st.booleans(), st.none())))
def test_fuzzed_renumber_args_never_crash(args: dict[str, object]) -> None:
    try:
        parsed = parse_renumber(args)
    except ValueError:
        return
    assert all(0 <= base < 2**63 - 1 for base in parsed.bases.values())
