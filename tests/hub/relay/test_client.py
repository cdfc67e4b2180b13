"""The district client: every answer classified, bodies bounded, TLS pinned to the district's CA."""

from __future__ import annotations

import datetime as dt
import ipaddress
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import given
from hypothesis import strategies as st

from district.server.app import create_app
from hub.relay.client import (
    MAX_JSON_RESPONSE_BYTES,
    ClientSettings,
    DistrictClient,
    DistrictError,
    Outcome,
    classify,
    read_token,
)
from protocol.topics import Stream
from tests.district.server.support import TOKEN, District, device_key, signed_batch, spki
from tests.hub.relay.support import Front, wait_until
from tests.services.mosquitto import HOST, free_port


@pytest.mark.parametrize(
    ("status", "body", "outcome", "reason"),
    [
        (201, b'{"stored": 1}', Outcome.DONE, "ok"),
        (200, b'{"stored": 0, "duplicate": true}', Outcome.DONE, "ok"),
        (200, b"<html>", Outcome.RETRY, "bad_response"),
        (200, b"[1]", Outcome.RETRY, "bad_response"),
        (404, b'{"reason": "unknown_device"}', Outcome.UNREGISTERED, "unknown_device"),
        (404, b"not found", Outcome.PARK, "http_404"),
        (410, b'{"reason": "decommissioned"}', Outcome.PARK, "decommissioned"),
        (422, b'{"reason": "bad_signature"}', Outcome.PARK, "bad_signature"),
        (422, b'{"reason": "NOT A CODE"}', Outcome.PARK, "http_422"),
        (401, b'{"reason": "unauthorized"}', Outcome.RETRY, "unauthorized"),
        (429, b"", Outcome.RETRY, "http_429"),
        (500, b"", Outcome.RETRY, "http_500"),
        (503, b'{"reason": "unavailable"}', Outcome.RETRY, "unavailable"),
        (302, b"", Outcome.RETRY, "http_302"),
    ],
)
def test_answers_are_classified(status: int, body: bytes, outcome: Outcome, reason: str) -> None:
    reply = classify(status, body)
    assert (reply.outcome, reply.reason, reply.status) == (outcome, reason, status)


@given(status=st.integers(100, 599), body=st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_any_answer_is_classified_without_raising(status: int, body: bytes) -> None:
    reply = classify(status, body)
    assert reply.outcome in set(Outcome)
    assert (reply.outcome is Outcome.PARK) == (400 <= status < 500 and status not in (401, 408, 425, 429)) or (
        reply.outcome is Outcome.UNREGISTERED
    )


def test_an_oversize_or_unreachable_answer_is_a_retry(district: District) -> None:
    with Front(None) as front:
        front.mode = "500"
        client = DistrictClient(ClientSettings(front.url, TOKEN))
        reply = client.post_batch("scanner-01", Stream.EVENTS, "k", b"x")
        assert (reply.outcome, reply.reason) == (Outcome.RETRY, "internal")
        client.close()
    unreachable = DistrictClient(ClientSettings(f"http://{HOST}:{free_port()}", TOKEN, connect_timeout_s=0.5))
    assert unreachable.register("scanner-01", b"k", "scanner").reason == "unreachable"
    with pytest.raises(DistrictError, match="unreachable"):
        unreachable.lists()
    unreachable.close()


def test_a_huge_answer_is_cut_off(tmp_path: Path) -> None:
    big = b"[" + b"0," * MAX_JSON_RESPONSE_BYTES + b"0]"
    with Front(None) as front:
        front.mode = "500"
        front.body_500 = big
        client = DistrictClient(ClientSettings(front.url, TOKEN))
        with pytest.raises(DistrictError, match="too_large"):
            client.lists()
        client.close()


def test_a_token_file_holds_one_token(tmp_path: Path) -> None:
    path = tmp_path / "t"
    path.write_text("abc\n")
    assert read_token(path) == "abc"
    path.write_text("a b")
    with pytest.raises(DistrictError):
        read_token(path)
    with pytest.raises(DistrictError):
        read_token(tmp_path / "missing")
    with pytest.raises(DistrictError):
        DistrictClient(ClientSettings("ftp://x", "t"))


def _certificates(directory: Path, name: str = "district") -> tuple[Path, Path, Path]:
    """A CA, and a server certificate for 127.0.0.1 it signed: (ca.pem, server.pem, server.key)."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "district test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    server = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(HOST))]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = (directory / f"{name}-ca.pem", directory / f"{name}.pem", directory / f"{name}.key")
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(server.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return paths


@contextmanager
def serving_tls(district: District, cert: Path, key: Path) -> Iterator[str]:
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(district.settings), host=HOST, port=port, log_level="warning", lifespan="off",
            ssl_certfile=str(cert), ssl_keyfile=str(key),
        )
    )  # fmt: skip
    thread = threading.Thread(target=server.run, name="district-center-tls")
    thread.start()
    try:
        wait_until(lambda: server.started or not thread.is_alive(), "the TLS center starts")
        yield f"https://{HOST}:{port}"
    finally:
        server.should_exit = True
        thread.join(20)


def test_https_with_the_district_ca_pinned(district: District, tmp_path: Path) -> None:
    ca, cert, key = _certificates(tmp_path)
    other_ca, _, _ = _certificates(tmp_path, "stranger")
    device = device_key()
    with serving_tls(district, cert, key) as url:
        client = DistrictClient(ClientSettings(url, TOKEN, ca_file=ca))
        assert client.register("scanner-01", spki(device), "scanner").outcome is Outcome.DONE
        data = signed_batch(device, "scanner-01", 1, 2)
        reply = client.post_batch("scanner-01", Stream.EVENTS, "key-1", data)
        assert (reply.outcome, reply.body["stored"]) == (Outcome.DONE, 2)
        client.close()
        stranger = DistrictClient(ClientSettings(url, TOKEN, ca_file=other_ca))  # a server the hub does not pin
        reply = stranger.post_batch("scanner-01", Stream.EVENTS, "key-2", data)
        assert (reply.outcome, reply.reason) == (Outcome.RETRY, "unreachable")
        stranger.close()
