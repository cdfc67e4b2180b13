"""What a terminal that missed revocation updates is sent: the delta chain from its version, else the newest
snapshot and the deltas since; nothing when it is current. On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Engine

from hub import lists_catchup
from hub.lists_catchup import catch_up
from hub.storage.engine import create_engine
from hub.storage.lists import store_revocation_update
from hub.storage.migrate import upgrade
from protocol.keys import Alg, generate_private_key
from protocol.revocation import build_revocation_update, parse_revocation_update

ROOT = generate_private_key(Alg.EDDSA)
LIST = "CN-SH-PD"


@pytest.fixture
def engine(hub_db_url: str) -> Iterator[Engine]:
    engine = create_engine(hub_db_url)
    upgrade(engine)
    yield engine
    engine.dispose()


def add(engine: Engine, seq: int, base: int) -> None:
    document = build_revocation_update(ROOT, list_id=LIST, seq=seq, base=base, ts=1000 + seq, add=[bytes([seq]) * 16])
    store_revocation_update(engine, document, parse_revocation_update(document, ROOT.public_key()), now=1000.0 + seq)


def seqs(engine: Engine, held: int) -> list[int]:
    return [document.seq for document in catch_up(engine, LIST, held)]


def test_the_chain_or_the_snapshot(engine: Engine) -> None:
    assert seqs(engine, 0) == []
    add(engine, 1, 0)
    for seq in (2, 3):
        add(engine, seq, seq - 1)
    assert seqs(engine, 0) == [1, 2, 3]
    assert seqs(engine, 1) == [2, 3]
    assert seqs(engine, 3) == []
    assert seqs(engine, 7) == []
    add(engine, 4, 0)
    add(engine, 5, 4)
    assert seqs(engine, 2) == [4, 5]
    assert seqs(engine, 4) == [5]


def test_a_long_chain_is_replaced_by_the_snapshot(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lists_catchup, "MAX_DELTAS", 2)
    add(engine, 1, 0)
    for seq in range(2, 6):
        add(engine, seq, seq - 1)
    assert seqs(engine, 3) == [4, 5]
    assert seqs(engine, 1) == [2, 3]  # the snapshot does not help: the first deltas, the rest after its next birth
