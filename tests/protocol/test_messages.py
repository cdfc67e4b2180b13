"""State, ack, command and result messages: round trips, signatures, and refusals."""

from __future__ import annotations

import cbor2
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import messages as m
from protocol.topics import Stream

KEY = ed25519.Ed25519PrivateKey.generate()
OTHER = ed25519.Ed25519PrivateKey.generate()
BOOT = bytes(range(16))


def test_state_round_trip_and_signature() -> None:
    birth = m.StateMessage("scanner-01", m.DeviceState.ONLINE, BOOT, 1.8e9, {"fw": "0.1.0", "backlog": {"events": 3}})
    data = m.seal_state(birth, KEY)
    assert m.open_state(data, KEY.public_key(), device="scanner-01") == birth
    with pytest.raises(m.MessageError, match="enrolled key"):
        m.open_state(m.seal_state(birth, OTHER), KEY.public_key(), device="scanner-01")
    with pytest.raises(m.MessageError, match="another device"):
        m.open_state(data, KEY.public_key(), device="scanner-02")


def test_ack_round_trip() -> None:
    ack = m.Ack(Stream.EVENTS, 41, ((5, 7), (20, 20)), 1.8e9)
    assert m.parse_ack(m.encode_ack(ack)) == ack
    assert m.parse_ack(m.encode_ack(m.Ack(Stream.SNAPSHOTS, 0))) == m.Ack(Stream.SNAPSHOTS, 0)


def test_command_and_result_round_trip() -> None:
    command = m.CommandMessage("c-1", m.Command.RESEND, {"stream": "events", "from": 5, "to": 7}, 1.8e9)
    assert m.parse_command(m.encode_command(command)) == command
    result = m.CommandResult("c-1", ok=False, detail="camera busy")
    assert m.parse_result(m.encode_result(result)) == result


@pytest.mark.parametrize(
    "body",
    [
        {"v": 2, "stream": "events", "upto": 1},
        {"v": 1, "stream": "photos", "upto": 1},
        {"v": 1, "stream": "events", "upto": -1},
        {"v": 1, "stream": "events", "upto": True},
        {"v": 1, "stream": "events", "upto": 3, "missing": [[5, 4]]},
        {"v": 1, "stream": "events", "upto": 3, "missing": [[0, 4]]},
        {"v": 1, "stream": "events", "upto": 3, "missing": [[1, 2, 3]]},
        {"v": 1, "stream": "events", "upto": 3, "missing": [[1, 1]] * 65},
        {"v": 1, "stream": "events", "upto": 3, "hub_time": float("nan")},
    ],
)
def test_bad_acks_are_refused(body: dict[str, object]) -> None:
    with pytest.raises(m.MessageError):
        m.parse_ack(cbor2.dumps(body))


@settings(max_examples=100)
@given(st.binary(max_size=300))
def test_parsers_raise_only_message_errors(data: bytes) -> None:
    for parse in (m.parse_ack, m.parse_command, m.parse_result):
        with pytest.raises(m.MessageError):
            parse(data)
