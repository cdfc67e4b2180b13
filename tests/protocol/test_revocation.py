"""Revocation ids, update documents and the holder rules of the revocation spec, checked against a plain set model."""

from __future__ import annotations

import hashlib
from typing import Any

import cbor2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.documents import DocumentError, DocumentProblem
from protocol.keys import Alg
from protocol.revocation import (
    RID_BYTES,
    HeldLists,
    RevocationSet,
    RevocationUpdate,
    RidKind,
    build_revocation_update,
    hc1_signature_rid,
    holder_rid,
    parse_revocation_update,
    pass_rid,
    revocation_id,
)
from tests.protocol.support import CTI, HID, ISS, LIST_ID, NOW, concat_sorted, hand_sign1, root_key, signing_key

EDGE_RIDS = [
    bytes(16),
    bytes(15) + b"\x01",
    b"\x01" + bytes(15),
    bytes(8) + b"\xff" * 8,
    b"\xff" * 8 + bytes(8),
    b"\xff" * 16,
    b"\x80" + bytes(15),
]
"""Rids that trip comparisons which drop trailing zero bytes or compare signed words."""
RID_POOL = EDGE_RIDS + [hashlib.sha256(bytes([i])).digest()[:16] for i in range(9)]
RIDS = st.sampled_from(RID_POOL) | st.binary(min_size=16, max_size=16)
RID_SETS = st.frozensets(RIDS, max_size=10)


def _parse(document: bytes, **kwargs: Any) -> RevocationUpdate:  # noqa: ANN401
    return parse_revocation_update(document, root_key().public_key(), **kwargs)


def _problem(document: bytes, **kwargs: Any) -> DocumentProblem:  # noqa: ANN401
    with pytest.raises(DocumentError) as caught:
        _parse(document, **kwargs)
    return caught.value.problem


def _body(**changes: Any) -> dict[str, Any]:  # noqa: ANN401
    body = {"v": 1, "list": LIST_ID, "seq": 2, "base": 1, "ts": NOW, "add": concat_sorted(RID_POOL[:3]), "del": b""}
    return {**body, **changes}


def _sealed(body: object) -> bytes:
    return hand_sign1(cbor2.dumps(body), root_key())


def test_rids_follow_the_spec_formula() -> None:
    def by_hand(kind: int, ident: bytes) -> bytes:
        return hashlib.sha256(bytes([kind]) + ISS.encode() + b"\x00" + ident).digest()[:16]

    signature = bytes(range(64))
    assert pass_rid(ISS, CTI) == by_hand(0x01, CTI) == revocation_id(RidKind.PASS, ISS, CTI)
    assert holder_rid(ISS, HID) == by_hand(0x02, HID)
    assert hc1_signature_rid(ISS, signature) == by_hand(0x03, signature[:32])
    assert pass_rid(ISS, CTI) != holder_rid(ISS, CTI)
    assert pass_rid(ISS, CTI) != pass_rid("CN-SH-PD", CTI)
    assert pass_rid("张", CTI) == hashlib.sha256(b"\x01" + "张".encode() + b"\x00" + CTI).digest()[:16]


VERSIONS = st.tuples(st.integers(min_value=0, max_value=2**40), st.integers(min_value=1, max_value=2**40))


@settings(max_examples=60)
@given(st.text(min_size=1, max_size=64), VERSIONS, st.integers(min_value=0, max_value=2**40), RID_SETS, RID_SETS)
def test_build_then_parse(
    list_id: str, versions: tuple[int, int], ts: int, add: frozenset[bytes], delete: frozenset[bytes]
) -> None:
    base, step = versions
    document = build_revocation_update(
        root_key(), list_id=list_id, seq=base + step, base=base, ts=ts, add=add, delete=delete
    )
    update = _parse(document)
    assert (update.list_id, update.seq, update.base, update.ts) == (list_id, base + step, base, ts)
    assert update.add == concat_sorted(add)
    assert update.delete == concat_sorted(delete)
    assert set(update.added()) == set(add)
    assert set(update.deleted()) == set(delete)
    assert update.is_snapshot is (base == 0)


def test_build_refuses_what_no_holder_could_apply() -> None:
    with pytest.raises(ValueError, match="higher than its base"):
        build_revocation_update(root_key(), list_id=LIST_ID, seq=3, base=3, ts=NOW)
    with pytest.raises(ValueError, match="16 bytes"):
        build_revocation_update(root_key(), list_id=LIST_ID, seq=1, base=0, ts=NOW, add=[b"short"])


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(_body(add=bytes(17)), id="add-not-multiple-of-16"),
        pytest.param(_body(add=bytes(15)), id="add-shorter-than-a-rid"),
        pytest.param(_body(add=RID_POOL[1] + RID_POOL[0]), id="add-unsorted"),
        pytest.param(_body(add=RID_POOL[3] * 2), id="add-duplicate"),
        pytest.param(_body(add=bytes(15) + b"\x01" + bytes(16)), id="add-trailing-zero-order"),
        pytest.param(_body(add=bytes(16) * 2), id="add-duplicate-zeros"),
        pytest.param(_body(add=b"\x01" + bytes(15) + bytes(8) + b"\xff" * 8), id="add-unsorted-high-word"),
        pytest.param(_body(**{"del": bytes(20)}), id="del-not-multiple-of-16"),
        pytest.param(_body(**{"del": b"\xff" * 16 + bytes(16)}), id="del-unsorted"),
        pytest.param(_body(add=list(RID_POOL[:2])), id="add-an-array"),
        pytest.param(_body(seq=1, base=1), id="base-not-below-seq"),
        pytest.param(_body(seq=-1, base=0), id="seq-negative"),
        pytest.param(_body(ts=True), id="ts-bool"),
        pytest.param(_body(list=""), id="list-empty"),
        pytest.param(_body(list="x" * 65), id="list-65-chars"),
        pytest.param(_body(list=b"CN"), id="list-bytes"),
        pytest.param(_body(v=2), id="v-2"),
        pytest.param({k: v for k, v in _body().items() if k != "del"}, id="no-del"),
        pytest.param({k: v for k, v in _body().items() if k != "base"}, id="no-base"),
        pytest.param([_body()], id="an-array"),
    ],
)
def test_schema_refusals(body: object) -> None:
    assert _problem(_sealed(body)) is DocumentProblem.BAD_SCHEMA


def test_sorted_edge_rids_are_accepted() -> None:
    update = _parse(_sealed(_body(add=concat_sorted(EDGE_RIDS))))
    assert list(update.added()) == sorted(EDGE_RIDS)


def test_envelope_refusals() -> None:
    good = build_revocation_update(root_key(), list_id=LIST_ID, seq=1, base=0, ts=NOW, add=RID_POOL)
    other = build_revocation_update(signing_key(Alg.EDDSA, 98), list_id=LIST_ID, seq=1, base=0, ts=NOW)
    assert _problem(other) is DocumentProblem.WRONG_KEY
    assert _problem(good[:-1] + bytes([good[-1] ^ 1])) is DocumentProblem.BAD_SIGNATURE
    assert _problem(b"\x00") is DocumentProblem.BAD_COSE
    assert _problem(good, max_bytes=len(good) - 1) is DocumentProblem.TOO_LARGE
    assert _parse(good, max_bytes=len(good)).add == concat_sorted(RID_POOL)


def _update(
    seq: int, base: int, add: frozenset[bytes] = frozenset(), delete: frozenset[bytes] = frozenset()
) -> RevocationUpdate:
    return RevocationUpdate(LIST_ID, seq, base, NOW + seq, concat_sorted(add), concat_sorted(delete))


def _problem_of_apply(held: RevocationSet, update: RevocationUpdate) -> DocumentProblem:
    with pytest.raises(DocumentError) as caught:
        held.apply(update)
    return caught.value.problem


def test_holder_rules() -> None:
    held = RevocationSet.empty(LIST_ID).apply(_update(3, 0, frozenset(RID_POOL[:4])))
    assert (held.seq, held.ts, len(held)) == (3, NOW + 3, 4)
    assert _problem_of_apply(held, _update(5, 4)) is DocumentProblem.GAP
    assert _problem_of_apply(held, _update(5, 2)) is DocumentProblem.GAP
    assert _problem_of_apply(held, _update(3, 2)) is DocumentProblem.NOT_NEWER
    assert _problem_of_apply(held, _update(3, 0)) is DocumentProblem.NOT_NEWER
    assert _problem_of_apply(held, RevocationUpdate("CN-SH-PD", 4, 3, NOW, b"", b"")) is DocumentProblem.WRONG_LIST
    delta = held.apply(_update(4, 3, frozenset(RID_POOL[4:6]), frozenset(RID_POOL[:1])))
    assert [rid in delta for rid in RID_POOL[:7]] == [False, True, True, True, True, True, False]
    assert held.apply(_update(9, 0, frozenset(RID_POOL[8:9]))).rids.tobytes() == RID_POOL[8]


def test_a_gap_says_what_to_fetch() -> None:
    held = RevocationSet.empty(LIST_ID).apply(_update(3, 0))
    with pytest.raises(DocumentError, match=r"fetch versions 4\.\.5 or a full snapshot"):
        held.apply(_update(6, 5))
    with pytest.raises(DocumentError, match="fetch the delta on version 3 or a full snapshot"):
        held.apply(_update(6, 2))


def test_lookup_of_what_is_not_a_rid_is_false() -> None:
    held = RevocationSet.empty(LIST_ID).apply(_update(1, 0, frozenset(EDGE_RIDS)))
    for probe in (None, "x" * 16, bytes(15), bytes(17), bytearray(16), EDGE_RIDS[0][:15]):
        assert probe not in held
    assert bytes(16) in held
    assert bytes(16) not in RevocationSet.empty(LIST_ID)


OPS = st.tuples(
    st.sampled_from(["snapshot", "delta"]),
    st.sampled_from([True, True, True, False]),  # the right list, mostly
    st.integers(min_value=-2, max_value=3),  # seq relative to the held version
    st.sampled_from(["held", "held", "older", "newer"]),  # the base of a delta
    RID_SETS,
    RID_SETS,
)


@given(st.lists(OPS, max_size=12))
def test_apply_behaves_like_a_set_and_is_atomic(
    ops: list[tuple[str, bool, int, str, frozenset[bytes], frozenset[bytes]]],
) -> None:
    held, model, model_seq = RevocationSet.empty(LIST_ID), frozenset[bytes](), 0
    for kind, right_list, seq_step, base_choice, add, delete in ops:
        base = 0 if kind == "snapshot" else max(0, {"held": 0, "older": -1, "newer": 1}[base_choice] + model_seq)
        seq = max(base + 1, model_seq + seq_step)
        update = RevocationUpdate(
            LIST_ID if right_list else "OTHER", seq, base, NOW + seq, concat_sorted(add), concat_sorted(delete)
        )
        expected = (
            DocumentProblem.WRONG_LIST
            if not right_list
            else DocumentProblem.NOT_NEWER
            if seq <= model_seq
            else DocumentProblem.GAP
            if base not in (0, model_seq)
            else None
        )
        before = (held.seq, held.ts, held.rids.tobytes())
        if expected is None:
            applied = held.apply(update)
            model = add if base == 0 else (model | add) - delete
            model_seq = seq
        else:
            assert _problem_of_apply(held, update) is expected
            applied = held
        assert (held.seq, held.ts, held.rids.tobytes()) == before  # the old version stays whole
        held = applied
        assert held.seq == model_seq
        assert held.rids.tobytes() == concat_sorted(model)
        assert len(held) == len(model)
        for rid in {*RID_POOL, *add, *delete}:
            assert (rid in held) is (rid in model)


def test_held_lists_answer_from_every_list() -> None:
    first = _parse(build_revocation_update(root_key(), list_id="A", seq=1, base=0, ts=100, add=RID_POOL[:2]))
    second = _parse(build_revocation_update(root_key(), list_id="B", seq=4, base=0, ts=50, add=RID_POOL[2:3]))
    held = HeldLists().apply(first).apply(second)
    assert HeldLists().oldest_ts() is None
    assert held.oldest_ts() == 50
    assert [rid in held for rid in RID_POOL[:4]] == [True, True, True, False]
    gap = RevocationUpdate("A", 9, 5, 200, RID_POOL[3], b"")
    with pytest.raises(DocumentError):
        held.apply(gap)
    assert RID_POOL[3] not in held
    assert held.lists["A"].seq == 1


def test_a_snapshot_of_a_million_rids() -> None:
    """The spec's everyday size: parsed, applied and looked up (correctness only; the bench measures time)."""
    words = np.frombuffer(np.random.default_rng(20250615).bytes(16 * 1_000_000), dtype=">u8").reshape(-1, 2)
    raw = words[np.lexsort((words[:, 1], words[:, 0]))].tobytes()  # bytewise order, as the document wants
    held = RevocationSet.empty(LIST_ID).apply(_parse(_sealed(_body(seq=1, base=0, add=raw))))
    assert len(held) == 1_000_000
    assert held.rids.tobytes() == raw
    assert all(raw[i : i + RID_BYTES] in held for i in range(0, len(raw), 1000 * RID_BYTES))
    assert not any(hashlib.sha256(bytes([i])).digest()[:16] in held for i in range(100))


CBOR_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=70) | st.binary(max_size=48),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=12,
)
FIELDS = st.sampled_from(["v", "list", "seq", "base", "ts", "add", "del"])


def _parses_or_refuses(document: bytes) -> None:
    """Parsing ends in an update or a DocumentError: any other exception fails the test."""
    try:
        update = _parse(document)
    except DocumentError:
        return
    assert len(update.add) % RID_BYTES == len(update.delete) % RID_BYTES == 0


@given(st.binary(max_size=400))
def test_any_bytes_are_parsed_or_refused(data: bytes) -> None:
    _parses_or_refuses(data)


@settings(max_examples=80)
@given(st.dictionaries(FIELDS, CBOR_VALUES, max_size=4))
def test_any_signed_body_is_parsed_or_refused(changes: dict[str, Any]) -> None:
    _parses_or_refuses(_sealed({**_body(), **changes}))


@given(st.data())
def test_a_flipped_bit_is_always_refused(data: st.DataObject) -> None:
    document = bytearray(build_revocation_update(root_key(), list_id=LIST_ID, seq=2, base=1, ts=NOW, add=RID_POOL))
    bit = data.draw(st.integers(min_value=0, max_value=len(document) * 8 - 1))
    document[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(DocumentError):
        _parse(bytes(document))
