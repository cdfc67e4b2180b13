"""A terminal's identity over time: moving to a new key (``rotate_key``), and the store its sequence numbers come from.

Key rotation. The hub sends ``rotate_key`` (a command with a correlation id) on ``down/cmd``. The terminal makes a new
Ed25519 key and answers on its own ``result`` topic with a *rotation message*: a COSE_Sign1 (tag 18, EdDSA) by its
CURRENT (old) key over::

    {"v": 1, "type": "key-rotation", "dev": "scanner-01", "cmd": "<correlation id>", "new": h'SPKI DER of the new key',
     "pop": h'Ed25519 signature by the NEW key over POP_CONTEXT || CBOR of the same map without "pop"'}

The old key's signature says "the enrolled terminal asks for this"; ``pop`` proves the sender holds the new private key
(no one can move a terminal to a key they got from elsewhere). Both are bound to the device id and the command's id,
so a message is good for one device and one command only. The message is self-proving: anyone who knew the old key
(the district) can check it too. The hub answers on ``down/cmd`` with a command of the same id and ``rotate_key``
whose ``args`` carry the outcome (:func:`rotation_answer`): ``rotated`` (the hub verifies under the new key from now
on) or ``refused`` (nothing changed). Results are plain CBOR maps; a rotation message starts with the COSE tag, so
the two share the ``result`` topic without ambiguity (:func:`is_rotation`).

Store identity. A terminal's store gets a random 16-byte store id when it is created; every boot id the terminal
makes starts with the first ``STORE_TAG_BYTES`` of it (:func:`boot_for_store`), so every batch (whose envelope carries
the boot id) tells the hub which store numbered its records, even one that arrives before the birth. The birth also
reports the whole store id (``info.store``). See ``protocol/README.md`` ("Terminal identity") for what the hub does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ed25519

from protocol.codec import cbor_dumps, cbor_loads
from protocol.cose import CoseError, decode_sign1, encode_sign1
from protocol.envelope import BOOT_ID_BYTES, MAX_SEQ
from protocol.keys import Alg, KeyFormatError, kid_of_public_key, load_public_key_der, spki_der, verify
from protocol.messages import COMMAND_ID_CHARS, Command, CommandMessage
from protocol.reasons import CredentialError
from protocol.topics import Stream, TopicError, check_device_id

VERSION = 1
ROTATION_TYPE = "key-rotation"
POP_CONTEXT = b"gridpass key-rotation proof-of-possession v1\x00"
"""Prefix of what the new key signs, so its signature can never be taken for a batch's, a state's or anything else."""
MAX_ROTATION_BYTES = 2048
MAX_SPKI_BYTES = 128
MAX_DETAIL = 120
COSE_SIGN1_TAG_BYTE = 0xD2
"""CBOR tag 18 (COSE_Sign1) in one byte: how a rotation message starts; a command result (a map) never does."""
STORE_ID_BYTES = 16
STORE_TAG_BYTES = 4
STORE_ID_HEX = re.compile(r"[0-9a-f]{32}")


class RotationProblem(StrEnum):
    """Why a rotation message was refused (the hub counts ``rotation_<problem>``)."""

    TOO_LARGE = "too_large"
    BAD_COSE = "bad_cose"
    WRONG_KEY = "wrong_key"
    BAD_SIGNATURE = "bad_signature"
    BAD_PROOF = "bad_proof"
    BAD_SCHEMA = "bad_schema"
    WRONG_TOPIC = "wrong_topic"


class RotationError(ValueError):
    """A rotation message that is not one, or does not verify; ``problem`` says why."""

    def __init__(self, problem: RotationProblem, detail: str) -> None:
        super().__init__(f"{problem.value}: {detail}")
        self.problem = problem


class RotationOutcome(StrEnum):
    """What the hub answers to a rotation message."""

    ROTATED = "rotated"
    """The hub verifies this terminal under the new key from now on: make it current."""
    REFUSED = "refused"
    """Nothing changed at the hub: drop the new key, keep the old one."""


@dataclass(frozen=True, slots=True)
class KeyRotation:
    """A verified rotation message."""

    device: str
    command: str
    new_key: ed25519.Ed25519PublicKey
    new_spki: bytes
    old_kid: bytes


@dataclass(frozen=True, slots=True)
class RotationAnswer:
    """The hub's answer to a rotation, carried as a ``rotate_key`` command of the same id."""

    command: str
    outcome: RotationOutcome
    kid: bytes
    """The new key's kid the answer is about."""
    detail: str = ""


def _body(device: str, command: str, new_spki: bytes) -> dict[str, Any]:
    return {"v": VERSION, "type": ROTATION_TYPE, "dev": device, "cmd": command, "new": new_spki}


def _check_command_id(command: str) -> str:
    if not 0 < len(command) <= COMMAND_ID_CHARS:
        raise RotationError(RotationProblem.BAD_SCHEMA, f"a command id is 1-{COMMAND_ID_CHARS} characters")
    return command


def seal_rotation(
    device: str, command: str, old_key: ed25519.Ed25519PrivateKey, new_key: ed25519.Ed25519PrivateKey
) -> bytes:
    """The rotation message: signed by ``old_key``, carrying ``new_key``'s public half and its proof of possession.

    Ed25519 signatures are deterministic, so sealing the same rotation again gives the same bytes.
    """
    check_device_id(device)
    body = _body(device, _check_command_id(command), spki_der(new_key.public_key()))
    pop = new_key.sign(POP_CONTEXT + cbor_dumps(body))
    data = encode_sign1(cbor_dumps({**body, "pop": pop}), old_key)
    if len(data) > MAX_ROTATION_BYTES:
        raise RotationError(RotationProblem.TOO_LARGE, "rotation message too large")
    return data


def is_rotation(data: bytes) -> bool:
    """Whether a payload on a ``result`` topic is a rotation message (a tagged COSE_Sign1) rather than a result."""
    return bool(data) and data[0] == COSE_SIGN1_TAG_BYTE


def rotation_kid(data: bytes) -> bytes:
    """The kid of the key that signed a rotation message (to pick the enrolled or a retired key), unverified."""
    if len(data) > MAX_ROTATION_BYTES:
        raise RotationError(RotationProblem.TOO_LARGE, f"{len(data)} bytes, the limit is {MAX_ROTATION_BYTES}")
    try:
        kid = decode_sign1(data, max_depth=4).kid(reject_mismatch=True)
    except CoseError as exc:
        raise RotationError(RotationProblem.BAD_COSE, str(exc)) from exc
    if kid is None:
        raise RotationError(RotationProblem.BAD_COSE, "no kid")
    return kid


def open_rotation(data: bytes, signer: ed25519.Ed25519PublicKey, *, device: str) -> KeyRotation:
    """Verify a rotation message from ``device`` (its topic's device) signed by ``signer``, and its proof."""
    if len(data) > MAX_ROTATION_BYTES:
        raise RotationError(RotationProblem.TOO_LARGE, f"{len(data)} bytes, the limit is {MAX_ROTATION_BYTES}")
    try:
        message = decode_sign1(data, max_depth=4)
        kid = message.kid(reject_mismatch=True)
    except CoseError as exc:
        raise RotationError(RotationProblem.BAD_COSE, str(exc)) from exc
    if message.alg != Alg.EDDSA or kid != kid_of_public_key(signer):
        raise RotationError(RotationProblem.WRONG_KEY, f"not signed with the key held for {device}")
    if not verify(signer, Alg.EDDSA, message.to_be_signed(), message.signature):
        raise RotationError(RotationProblem.BAD_SIGNATURE, "the old key's signature does not verify")
    try:
        body = cbor_loads(message.payload, max_depth=2)
    except CredentialError as exc:
        raise RotationError(RotationProblem.BAD_SCHEMA, "payload is not CBOR") from exc
    rotation = _rotation_of(body, kid)
    if rotation.device != device:
        raise RotationError(RotationProblem.WRONG_TOPIC, "the message names another device than its topic")
    return rotation


def _rotation_of(body: object, old_kid: bytes) -> KeyRotation:
    if not isinstance(body, dict) or body.get("v") != VERSION or isinstance(body.get("v"), bool):
        raise RotationError(RotationProblem.BAD_SCHEMA, "not a version 1 message")
    if body.get("type") != ROTATION_TYPE or set(body) != {"v", "type", "dev", "cmd", "new", "pop"}:
        raise RotationError(RotationProblem.BAD_SCHEMA, "not a key-rotation message")
    dev, command, new_spki, pop = body["dev"], body["cmd"], body["new"], body["pop"]
    try:
        device = check_device_id(dev) if isinstance(dev, str) else None
    except TopicError as exc:
        raise RotationError(RotationProblem.BAD_SCHEMA, "bad device id") from exc
    if device is None or not isinstance(command, str) or not isinstance(pop, bytes):
        raise RotationError(RotationProblem.BAD_SCHEMA, "bad device id, command id or proof")
    _check_command_id(command)
    if not isinstance(new_spki, bytes) or len(new_spki) > MAX_SPKI_BYTES:
        raise RotationError(RotationProblem.BAD_SCHEMA, "new is not a short SPKI")
    try:
        new_key = load_public_key_der(new_spki)
    except KeyFormatError as exc:
        raise RotationError(RotationProblem.BAD_SCHEMA, "new is not a public key") from exc
    if not isinstance(new_key, ed25519.Ed25519PublicKey):
        raise RotationError(RotationProblem.BAD_SCHEMA, "device keys are Ed25519")
    if spki_der(new_key) != new_spki:
        raise RotationError(RotationProblem.BAD_SCHEMA, "new is not in canonical SPKI DER")
    if kid_of_public_key(new_key) == old_kid:
        raise RotationError(RotationProblem.BAD_SCHEMA, "the new key is the old key")
    if not verify(new_key, Alg.EDDSA, POP_CONTEXT + cbor_dumps(_body(device, command, new_spki)), pop):
        raise RotationError(RotationProblem.BAD_PROOF, "the new key's proof of possession does not verify")
    return KeyRotation(device, command, new_key, new_spki, old_kid)


def rotation_answer(answer: RotationAnswer, *, expires: float | None = None) -> CommandMessage:
    """The hub's answer as a ``rotate_key`` command of the rotation's own correlation id."""
    args: dict[str, Any] = {"outcome": answer.outcome.value, "kid": answer.kid.hex()}
    if answer.detail:
        args["detail"] = answer.detail[:MAX_DETAIL]
    return CommandMessage(answer.command, Command.ROTATE_KEY, args, expires)


def parse_rotation_answer(command: CommandMessage) -> RotationAnswer | None:
    """The hub's answer carried by a ``rotate_key`` command, or None when the command asks for a rotation."""
    if command.command is not Command.ROTATE_KEY or "outcome" not in command.args:
        return None
    outcome, kid, detail = command.args.get("outcome"), command.args.get("kid"), command.args.get("detail", "")
    try:
        parsed = RotationOutcome(outcome if isinstance(outcome, str) else "")
    except ValueError as exc:
        raise RotationError(RotationProblem.BAD_SCHEMA, "unknown rotation outcome") from exc
    if not isinstance(kid, str) or not re.fullmatch(r"[0-9a-f]{16}", kid) or not isinstance(detail, str):
        raise RotationError(RotationProblem.BAD_SCHEMA, "a rotation answer carries the new key's kid in hex")
    return RotationAnswer(command.id, parsed, bytes.fromhex(kid), detail[:MAX_DETAIL])


# --- store identity ---------------------------------------------------------------------------------------------


def check_store_id(store_id: str) -> str:
    """``store_id`` if it is 32 lowercase hex digits (16 random bytes), else :class:`ValueError`."""
    if not isinstance(store_id, str) or not STORE_ID_HEX.fullmatch(store_id):
        raise ValueError("a store id is 32 lowercase hex digits")
    return store_id


def boot_for_store(store_id: str, random_hex: str) -> str:
    """A boot id (32 hex digits) that starts with the store's tag; ``random_hex`` gives the rest (24+ hex digits)."""
    check_store_id(store_id)
    rest = random_hex[: 2 * (BOOT_ID_BYTES - STORE_TAG_BYTES)]
    if len(rest) != 2 * (BOOT_ID_BYTES - STORE_TAG_BYTES) or not re.fullmatch(r"[0-9a-f]+", rest):
        raise ValueError("the random part of a boot id is 24 lowercase hex digits")
    return store_id[: 2 * STORE_TAG_BYTES] + rest


def store_tag(boot: bytes) -> str:
    """The store tag (hex) a boot id carries: what the hub recognises a store by in every batch."""
    if len(boot) != BOOT_ID_BYTES:
        raise ValueError("a boot id is 16 bytes")
    return boot[:STORE_TAG_BYTES].hex()


def store_id_of(info: dict[str, Any], boot: bytes) -> str | None:
    """The store id a birth reports, when it is well formed and its tag matches the birth's boot id."""
    value = info.get("store")
    if not isinstance(value, str) or not STORE_ID_HEX.fullmatch(value):
        return None
    return value if value[: 2 * STORE_TAG_BYTES] == store_tag(boot) else None


STORE_TAG_HEX = re.compile(r"[0-9a-f]{8}")


@dataclass(frozen=True, slots=True)
class Renumber:
    """The hub's ``renumber`` command: the store whose tag is ``store_tag`` continues each stream above
    ``bases[stream]`` (the highest seq the hub holds of the store it replaced)."""

    store_tag: str
    bases: dict[Stream, int]


def renumber_args(renumber: Renumber) -> dict[str, Any]:
    """The command arguments (scalars only, as the hub's ``check_args`` wants)."""
    if not STORE_TAG_HEX.fullmatch(renumber.store_tag):
        raise ValueError("a store tag is 8 lowercase hex digits")
    return {"store": renumber.store_tag, **{s.value: renumber.bases.get(s, 0) for s in Stream}}


def parse_renumber(args: dict[str, Any]) -> Renumber:
    """The arguments of a ``renumber`` command (:class:`ValueError` when they are not)."""
    store = args.get("store")
    if not isinstance(store, str) or not STORE_TAG_HEX.fullmatch(store):
        raise ValueError("renumber needs the store tag (8 lowercase hex digits)")
    bases: dict[Stream, int] = {}
    for stream in Stream:
        value = args.get(stream.value, 0)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < MAX_SEQ:
            raise ValueError(f"renumber base of {stream.value} is not an integer in 0..2**63-2")
        bases[stream] = value
    return Renumber(store, bases)
