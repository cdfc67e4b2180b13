"""Trust lists and revocation updates: kept once as signed, the current ones, and the chain a holder needs."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine

from hub.storage import lists
from hub.storage.errors import InvalidValueError, ListConflictError
from protocol.keys import Alg, generate_private_key, spki_der
from protocol.revocation import RevocationUpdate, build_revocation_update, parse_revocation_update
from protocol.trustlist import build_trust_list, parse_trust_list
from tests.hub.storage.support import T0

ROOT = generate_private_key(Alg.EDDSA)
LIST = "district-1"


def update(seq: int, base: int, *rids: bytes) -> tuple[bytes, RevocationUpdate]:
    document = build_revocation_update(ROOT, list_id=LIST, seq=seq, base=base, ts=int(T0) + seq, add=rids)
    return document, parse_revocation_update(document, ROOT.public_key())


def store(engine: Engine, seq: int, base: int) -> bytes:
    document, parsed = update(seq, base, bytes([seq]) * 16)
    assert lists.store_revocation_update(engine, document, parsed, now=T0)
    return document


def test_trust_lists_are_kept_as_signed_and_the_highest_is_current(hub_engine: Engine) -> None:
    assert lists.current_trust_list(hub_engine) is None
    documents = {seq: build_trust_list(ROOT, seq=seq, ts=int(T0) + seq, issuers=[]) for seq in (1, 3, 2)}
    for seq, document in documents.items():
        assert lists.store_trust_list(hub_engine, document, seq=seq, ts=int(T0) + seq, now=T0)
    assert not lists.store_trust_list(hub_engine, documents[3], seq=3, ts=int(T0) + 3, now=T0 + 1)
    current = lists.current_trust_list(hub_engine)
    assert current is not None
    assert (current.seq, current.ts, current.base, current.document) == (3, int(T0) + 3, 0, documents[3])
    assert parse_trust_list(current.document, ROOT.public_key()).seq == 3


def test_a_second_document_under_one_seq_is_a_conflict(hub_engine: Engine) -> None:
    store(hub_engine, 1, 0)
    other, parsed = update(1, 0, b"\xff" * 16)
    with pytest.raises(ListConflictError, match="signed two"):
        lists.store_revocation_update(hub_engine, other, parsed, now=T0)


def test_the_chain_of_deltas_from_a_holders_version_to_the_current_one(hub_engine: Engine) -> None:
    assert lists.revocation_updates_since(hub_engine, LIST, 0) == []
    documents = {1: store(hub_engine, 1, 0), 2: store(hub_engine, 2, 1), 3: store(hub_engine, 3, 2)}
    documents[4] = store(hub_engine, 4, 0)  # a new snapshot
    documents[5] = store(hub_engine, 5, 4)
    documents[6] = store(hub_engine, 6, 5)

    def chain(held: int) -> list[int] | None:
        found = lists.revocation_updates_since(hub_engine, LIST, held)
        return None if found is None else [d.seq for d in found]

    assert chain(4) == [5, 6]
    assert chain(5) == [6]
    assert chain(6) == []
    assert chain(9) == []
    assert chain(2) is None  # the snapshot at 4 lies between: only a snapshot brings the holder up to date
    assert chain(0) is None
    found = lists.revocation_updates_since(hub_engine, LIST, 4)
    assert found is not None and [d.document for d in found] == [documents[5], documents[6]]
    snapshot = lists.latest_snapshot(hub_engine, LIST)
    assert snapshot is not None and (snapshot.seq, snapshot.document) == (4, documents[4])
    current = lists.current_revocation(hub_engine, LIST)
    assert current is not None and current.seq == 6
    assert lists.latest_snapshot(hub_engine, "another-list") is None
    assert lists.revocation_list_ids(hub_engine) == [LIST]


def test_a_missing_delta_breaks_the_chain(hub_engine: Engine) -> None:
    store(hub_engine, 1, 0)
    store(hub_engine, 2, 1)
    store(hub_engine, 4, 3)  # the delta 3 (on 2) never arrived
    assert lists.revocation_updates_since(hub_engine, LIST, 2) is None
    assert lists.revocation_updates_since(hub_engine, LIST, 3) is not None


def test_a_delta_may_skip_versions(hub_engine: Engine) -> None:
    store(hub_engine, 1, 0)
    store(hub_engine, 2, 1)
    store(hub_engine, 3, 2)
    store(hub_engine, 5, 3)  # the district built 5 on 3; no document 4
    found = lists.revocation_updates_since(hub_engine, LIST, 2)
    assert found is not None and [d.seq for d in found] == [3, 5]
    assert lists.revocation_updates_since(hub_engine, LIST, 4) is None


def test_values_the_schema_cannot_hold_are_refused(hub_engine: Engine) -> None:
    with pytest.raises(InvalidValueError):
        lists.store_trust_list(hub_engine, b"x", seq=2**63, ts=0, now=T0)
    with pytest.raises(InvalidValueError):
        lists.store_trust_list(hub_engine, b"x", seq=0, ts=0, now=T0)
    assert spki_der(ROOT.public_key())  # the root key is a real one
