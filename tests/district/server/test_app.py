"""The reference district center: registration, batches verified and stored once, lists served, refusals counted."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from district.server.app import create_app
from district.server.bodies import MAX_JSON_BYTES, registration_body
from district.server.documents import MAX_CHAIN
from district.server.store import DistrictStore, create_engine
from protocol.envelope import MAX_BATCH_BYTES, open_batch
from protocol.revocation import parse_revocation_update
from protocol.trustlist import parse_trust_list
from tests.district.server.support import (
    LIST_ID,
    OTHER_TOKEN,
    District,
    device_key,
    signed_batch,
    spki,
)

DEV = "scanner-01"


def register(center: TestClient, device: str, key_der: bytes, **headers: str) -> int:
    response = center.put(f"/v1/devices/{device}", content=registration_body(key_der, "scanner"), headers=headers)
    return int(response.status_code)


def post(
    center: TestClient, device: str, data: bytes, key: str | None = None, stream: str = "events"
) -> dict[str, object]:
    headers = {"Idempotency-Key": key or hashlib.sha256(data).hexdigest(), "Content-Type": "application/cose"}
    response = center.post(f"/v1/devices/{device}/batches/{stream}", content=data, headers=headers)
    return {"status": response.status_code, **response.json()}


def refusals(center: TestClient) -> dict[str, int]:
    counts: dict[str, int] = center.get("/v1/counts").json()["refusals"]
    return counts


def test_a_registered_device_s_batches_are_stored_once_per_key_and_per_record(center: TestClient) -> None:
    key = device_key()
    assert register(center, DEV, spki(key)) == 201
    assert register(center, DEV, spki(key)) == 200
    first = signed_batch(key, DEV, 1, 2, 3)
    assert post(center, DEV, first) == {"status": 201, "stored": 3, "duplicates": 0, "duplicate": False}
    assert post(center, DEV, first) == {"status": 200, "stored": 0, "duplicates": 3, "duplicate": True}
    overlapping = signed_batch(key, DEV, 3, 4, decision="deny")  # a resend regrouped: seq 3 is held already
    assert post(center, DEV, overlapping) == {"status": 201, "stored": 1, "duplicates": 1, "duplicate": False}
    counts = center.get("/v1/counts").json()
    assert counts["devices"] == {DEV: {"deny": 1, "pass": 3}}
    assert (counts["records"], counts["batches"], counts["registered_devices"]) == (4, 2, 1)


def test_the_sequence_numbers_held_come_back_as_ranges(center: TestClient) -> None:
    key = device_key()
    register(center, DEV, spki(key))
    for seqs in ((1, 2, 3), (5,), (6, 7), (9,)):
        post(center, DEV, signed_batch(key, DEV, *seqs))
    held = center.get("/v1/events/seqs").json()
    assert held == {"devices": {DEV: [[1, 3], [5, 7], [9, 9]]}, "rows": 7}
    assert center.get("/v1/incidents/seqs").json() == {"devices": {}, "rows": 0}
    assert center.get("/v1/bogus/seqs").status_code == 400  # problem JSON: not a stream


def test_the_stored_bytes_still_verify_under_the_device_key(center: TestClient, district: District) -> None:
    key = device_key()
    register(center, DEV, spki(key))
    data = signed_batch(key, DEV, 1)
    post(center, DEV, data)
    store = DistrictStore(create_engine(district.settings.data_dir))
    (arrived,) = store.arrivals(DEV)
    assert arrived.cose == data
    assert [r.seq for r in open_batch(arrived.cose, key.public_key(), device=DEV).records] == [1]
    store.engine.dispose()


def test_an_idempotency_key_naming_other_bytes_is_a_conflict(center: TestClient) -> None:
    key = device_key()
    register(center, DEV, spki(key))
    post(center, DEV, signed_batch(key, DEV, 1), key="k-1")
    answer = post(center, DEV, signed_batch(key, DEV, 2), key="k-1")
    assert (answer["status"], answer["reason"]) == (409, "idempotency_conflict")
    assert center.get("/v1/counts").json()["records"] == 1


@pytest.mark.parametrize(
    ("case", "status", "reason"),
    [
        ("unknown_device", 404, "unknown_device"),
        ("signed_by_another_key", 422, "wrong_key"),
        ("bad_signature", 422, "bad_signature"),
        ("other_device_in_body", 422, "wrong_topic"),
        ("other_stream", 422, "wrong_topic"),
        ("garbage", 422, "bad_cose"),
        ("no_idempotency_key", 400, "bad_idempotency_key"),
        ("oversize", 413, "too_large"),
    ],
)
def test_bad_batches_are_refused_with_a_reason_and_counted(
    center: TestClient, case: str, status: int, reason: str
) -> None:
    key = device_key()
    register(center, DEV, spki(key))
    register(center, "scanner-02", spki(device_key()))
    good = signed_batch(key, DEV, 1)
    device, stream, data, headers = DEV, "events", good, {"Idempotency-Key": "k"}
    if case == "unknown_device":
        device = "scanner-99"
    elif case == "signed_by_another_key":
        data = signed_batch(device_key(), DEV, 1)
    elif case == "bad_signature":
        data = good[:-1] + bytes([good[-1] ^ 1])
    elif case == "other_device_in_body":
        register(center, "scanner-03", spki(key))  # one key under two ids: the body still names scanner-01
        device = "scanner-03"
    elif case == "other_stream":
        stream = "incidents"
    elif case == "garbage":
        data = b"\xa1not cose"
    elif case == "no_idempotency_key":
        headers = {}
    elif case == "oversize":
        data = b"\x00" * (MAX_BATCH_BYTES + 1)
    response = center.post(f"/v1/devices/{device}/batches/{stream}", content=data, headers=headers)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["reason"] == reason
    assert refusals(center)[reason] == 1
    assert center.get("/v1/counts").json()["records"] == 0


def test_a_device_belongs_to_the_hub_that_registered_it(center: TestClient) -> None:
    key = device_key()
    register(center, DEV, spki(key))
    other = {"Authorization": f"Bearer {OTHER_TOKEN}"}
    assert register(center, DEV, spki(key), **other) == 403
    response = center.post(
        f"/v1/devices/{DEV}/batches/events",
        content=signed_batch(key, DEV, 1),
        headers={"Idempotency-Key": "k", **other},
    )
    assert (response.status_code, response.json()["reason"]) == (403, "other_hub")
    assert register(center, DEV, spki(device_key())) == 409  # same hub, another key: a new id is needed


def test_a_decommissioned_device_s_new_batches_are_refused_its_old_ones_answered(center: TestClient) -> None:
    key = device_key()
    register(center, DEV, spki(key))
    old = signed_batch(key, DEV, 1)
    post(center, DEV, old)
    assert center.post(f"/v1/devices/{DEV}/decommission").json()["changed"] is True
    assert center.post(f"/v1/devices/{DEV}/decommission").json()["changed"] is False
    assert post(center, DEV, old)["status"] == 200
    answer = post(center, DEV, signed_batch(key, DEV, 2))
    assert (answer["status"], answer["reason"]) == (410, "decommissioned")
    assert register(center, DEV, spki(key)) == 410
    assert center.post("/v1/devices/scanner-77/decommission").status_code == 404


def test_calls_without_a_known_token_are_refused(district: District) -> None:
    with TestClient(create_app(district.settings)) as anonymous:
        assert anonymous.get("/v1/health").json() == {"ok": True}
        for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic aGk6aGk="}):
            response = anonymous.get("/v1/counts", headers=headers)
            assert (response.status_code, response.json()["reason"]) == (401, "unauthorized")


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"{",
        b"[]",
        b'{"public_key": "AAAA", "profile": "scanner"}',
        b'{"public_key": "!!", "profile": "scanner"}',
        b'{"profile": "scanner"}',
        b'{"public_key": "", "profile": "toaster", "x": 1}',
        b"\xff\xfe",
        b"[" * 100_000,
    ],
)
def test_bad_registrations_are_refused(center: TestClient, body: bytes) -> None:
    response = center.put(f"/v1/devices/{DEV}", content=body)
    assert 400 <= response.status_code < 500
    assert response.json()["reason"] in {"bad_json", "bad_schema", "bad_key", "too_large"}
    assert center.get("/v1/counts").json()["registered_devices"] == 0


def test_a_p256_key_is_not_a_device_key(center: TestClient) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    from protocol.keys import spki_der

    p256 = spki_der(ec.generate_private_key(ec.SECP256R1()).public_key())
    response = center.put(f"/v1/devices/{DEV}", content=registration_body(p256, "scanner"))
    assert (response.status_code, response.json()["reason"]) == (422, "bad_key")


def test_an_oversize_registration_is_refused_before_it_is_parsed(center: TestClient) -> None:
    body = json.dumps({"public_key": "A" * MAX_JSON_BYTES, "profile": "scanner"}).encode()
    response = center.put(f"/v1/devices/{DEV}", content=body)
    assert (response.status_code, response.json()["reason"]) == (413, "too_large")


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=600))
def test_random_batch_bodies_are_refused_never_stored(center: TestClient, data: bytes) -> None:
    response = center.post(f"/v1/devices/{DEV}/batches/events", content=data, headers={"Idempotency-Key": "fuzz"})
    assert response.status_code in (404, 422)
    assert center.get("/v1/counts").json()["records"] == 0


def test_the_lists_the_district_tools_wrote_are_served_and_verify(center: TestClient, district: District) -> None:
    assert center.get("/v1/lists").json() == {"trust": None, "revocations": {}}
    assert center.get("/v1/trustlist").status_code == 404
    district.sign_trust_list(3)
    for n in range(3):
        district.revoke(bytes([n]) * 16)
    assert center.get("/v1/lists").json() == {"trust": 3, "revocations": {LIST_ID: 3}}
    trust = center.get("/v1/trustlist")
    assert parse_trust_list(trust.content, district.root.public_key()).seq == 3
    assert trust.headers["gridpass-seq"] == "3"
    assert center.get(f"/v1/revocations/{LIST_ID}/chain", params={"since": 0}).json()["chain"] == [1, 2, 3]
    assert center.get(f"/v1/revocations/{LIST_ID}/chain", params={"since": 1}).json()["chain"] == [2, 3]
    assert center.get(f"/v1/revocations/{LIST_ID}/chain", params={"since": 3}).json()["chain"] == []
    updates = [center.get(f"/v1/revocations/{LIST_ID}/updates/{n}").content for n in (1, 2, 3)]
    parsed = [parse_revocation_update(u, district.root.public_key()) for u in updates]
    assert [(u.seq, u.base) for u in parsed] == [(1, 0), (2, 1), (3, 2)]
    assert center.get(f"/v1/revocations/{LIST_ID}/updates/9").status_code == 404
    assert center.get("/v1/revocations/no-such/chain").status_code == 404
    assert center.get(f"/v1/revocations/{LIST_ID}/chain", params={"since": -1}).status_code == 400
    assert center.get(f"/v1/revocations/{LIST_ID}/updates/x").status_code == 400


def test_a_chain_longer_than_one_answer_is_given_in_pieces(center: TestClient, district: District) -> None:
    from district.ledger import RevocationLedger

    ledger = RevocationLedger(district.directory / "ledger", LIST_ID)
    for n in range(MAX_CHAIN + 5):
        ledger.publish(district.root, ts=n, add=[n.to_bytes(16, "big")])
    chain = center.get(f"/v1/revocations/{LIST_ID}/chain", params={"since": 0}).json()["chain"]
    assert chain == list(range(1, MAX_CHAIN + 1))
    rest = center.get(f"/v1/revocations/{LIST_ID}/chain", params={"since": chain[-1]}).json()["chain"]
    assert rest == list(range(MAX_CHAIN + 1, MAX_CHAIN + 6))


def test_a_damaged_list_file_is_reported_not_served(center: TestClient, district: District) -> None:
    document = district.sign_trust_list(1)
    (district.directory / "trust.cose").write_bytes(document[:-1] + bytes([document[-1] ^ 1]))
    response = center.get("/v1/trustlist")
    assert (response.status_code, response.json()["reason"]) == (500, "list_file_damaged")


def test_registration_body_round_trips() -> None:
    from district.server.bodies import parse_registration

    der = spki(device_key())
    parsed = parse_registration(registration_body(der, "handheld"))
    assert (parsed.public_key, parsed.profile) == (der, "handheld")
    assert base64.b64decode(json.loads(registration_body(der, "camera"))["public_key"]) == der
