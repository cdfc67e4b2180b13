"""The on-disk revocation store against a plain set model: holder rules, persistence, damage, merges, one version."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from device.lists import revocation_store
from device.lists.manifest import MANIFEST_NAME
from device.lists.revocation_store import (
    RevocationStore,
    StoreCorruptError,
    StoreError,
    StoreMissingError,
)
from protocol.documents import DocumentError, DocumentProblem
from tests.device.lists.support import LIST_ID, POOL, answers, content, tiny_files, update

RID_SETS = st.frozensets(st.sampled_from(POOL[:6] + POOL[-6:]) | st.sampled_from(POOL), max_size=10)
"""Mostly from a dozen rids, so that updates add what is held and remove what was just added."""
DELTA = st.tuples(st.just("delta"), RID_SETS, RID_SETS, st.integers(1, 3))
OPS = st.lists(
    st.one_of(
        DELTA,
        DELTA,
        DELTA,
        DELTA,
        st.tuples(st.just("snapshot"), RID_SETS, st.integers(1, 3)),
        st.tuples(st.just("gap"), RID_SETS, st.integers(1, 3)),
        st.tuples(st.just("stale"), RID_SETS, st.integers(0, 3)),
        st.tuples(st.just("other_list"), RID_SETS, st.integers(1, 3)),
        st.tuples(st.just("merge")),
        st.tuples(st.just("reopen")),
    ),
    max_size=20,
)


def disk_state(directory: Path) -> dict[str, bytes]:
    """Every committed file and its bytes (lock files aside)."""
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if not p.name.startswith(".")}


def segments_of(store: RevocationStore) -> tuple[object, ...]:
    manifest = store.view().manifest
    return manifest.segments if manifest is not None else ()


def merge_due(store: RevocationStore) -> bool:
    """``store.needs_merge``, read through a call so that the type checker does not pin its value."""
    return store.needs_merge


def check_matches(store: RevocationStore, model: set[bytes], seq: int) -> None:
    assert store.seq == seq
    assert len(store) == len(model)
    assert answers(store, POOL) == model & set(POOL)
    view = store.view()
    assert list(view.contains_many(b"".join(POOL))) == [rid in model for rid in POOL]
    assert content(view) == model


@settings(max_examples=150)
@given(ops=OPS)
def test_store_follows_a_set_model(tmp_path_factory: pytest.TempPathFactory, ops: list[tuple[object, ...]]) -> None:
    directory = tmp_path_factory.mktemp("store")
    with tiny_files():
        store = RevocationStore.open(directory, LIST_ID, create=True)
        model: set[bytes] = set()
        seq = 0
        for op in ops:
            kind = op[0]
            if kind == "snapshot" or (kind == "delta" and seq == 0):
                rids, step = op[1], op[-1]
                assert isinstance(rids, frozenset) and isinstance(step, int)
                store.apply(update(seq + step, 0, rids))
                model, seq = set(rids), seq + step
            elif kind == "delta":
                _, add, delete, step = op
                assert isinstance(add, frozenset) and isinstance(delete, frozenset) and isinstance(step, int)
                store.apply(update(seq + step, seq, add, delete))
                model, seq = (model | add) - delete, seq + step
            elif kind in ("gap", "stale", "other_list"):
                rids, n = op[1], op[2]
                assert isinstance(rids, frozenset) and isinstance(n, int)
                refused, problem = {
                    "gap": (update(seq + n + 1, seq + n, rids), DocumentProblem.GAP),
                    "stale": (update(max(seq - n, 1), 0, rids), DocumentProblem.NOT_NEWER),
                    "other_list": (update(seq + n, 0, rids, list_id="CN-SH-XH"), DocumentProblem.WRONG_LIST),
                }[str(kind)]
                if kind == "stale" and seq == 0:
                    continue
                before = disk_state(directory)
                with pytest.raises(DocumentError) as caught:
                    store.apply(refused)
                assert caught.value.problem is problem
                assert disk_state(directory) == before
            elif kind == "merge":
                had_segments = bool(segments_of(store))
                assert store.merge() == had_segments
            else:
                store.close()
                store = RevocationStore.open(directory, LIST_ID, create=True)
            check_matches(store, model, seq)
        store.close()


def test_a_removed_rid_can_come_back_and_go_again(tmp_path: Path) -> None:
    store = RevocationStore.open(tmp_path, LIST_ID, create=True)
    store.apply(update(1, 0, POOL[:3]))
    store.apply(update(2, 1, [], POOL[:1]))
    store.apply(update(3, 2, POOL[:1] + POOL[5:6]))
    assert answers(store, POOL) == set(POOL[:3] + POOL[5:6])
    store.apply(update(4, 3, POOL[:1], POOL[:1] + POOL[5:6]))  # in both: removed, as the spec's union-then-remove
    assert answers(store, POOL) == set(POOL[1:3])
    store.close()


def test_persists_across_reopen_and_merge(tmp_path: Path) -> None:
    store = RevocationStore.open(tmp_path, LIST_ID, create=True)
    store.apply(update(1, 0, POOL[:10]))
    store.apply(update(2, 1, POOL[10:15], POOL[:3]))
    store.apply(update(5, 2, [POOL[20]], [POOL[10]]))
    expected = set(POOL[3:10]) | set(POOL[11:15]) | {POOL[20]}
    store.close()
    again = RevocationStore.open(tmp_path, LIST_ID)
    assert (again.seq, again.ts, again.list_id, answers(again, POOL)) == (5, 1_005, LIST_ID, expected)
    assert again.merge()
    again.close()
    merged = RevocationStore.open(tmp_path, LIST_ID)
    assert segments_of(merged) == ()
    assert (merged.seq, answers(merged, POOL)) == (5, expected)
    assert sorted(p.name.split("-")[0] for p in tmp_path.glob("*.rids")) == ["base"]
    assert not merged.merge()  # nothing left to merge
    merged.close()


def test_a_missing_store_is_an_error_not_an_empty_list(tmp_path: Path) -> None:
    with pytest.raises(StoreMissingError, match="apply a full snapshot"):
        RevocationStore.open(tmp_path / "none", LIST_ID)
    assert RevocationStore.held_list_id(tmp_path / "none") is None


def test_a_store_of_another_list_is_refused(tmp_path: Path) -> None:
    store = RevocationStore.open(tmp_path, LIST_ID, create=True)
    store.apply(update(1, 0, POOL[:2]))
    store.close()
    with pytest.raises(StoreError, match=f"holds list {LIST_ID}"):
        RevocationStore.open(tmp_path, "CN-SH-XH")
    assert RevocationStore.held_list_id(tmp_path) == LIST_ID


@pytest.fixture
def held_store(tmp_path: Path) -> Path:
    """A store at version 3: a base of 20 rids and two segments."""
    store = RevocationStore.open(tmp_path, LIST_ID, create=True)
    store.apply(update(1, 0, POOL[:20]))
    store.apply(update(2, 1, POOL[20:25], POOL[:2]))
    store.apply(update(3, 2, POOL[25:], POOL[2:4]))
    store.close()
    return tmp_path


def only(directory: Path, prefix: str) -> Path:
    (path,) = directory.glob(f"{prefix}-*.rids")
    return path


def test_a_truncated_base_is_detected(held_store: Path) -> None:
    base = only(held_store, "base")
    base.write_bytes(base.read_bytes()[:-7])
    with pytest.raises(StoreCorruptError, match="truncated"):
        RevocationStore.open(held_store, LIST_ID)


def test_a_flipped_bit_in_the_base_is_detected_when_verifying(held_store: Path) -> None:
    base = only(held_store, "base")
    data = bytearray(base.read_bytes())
    data[4096 + 5] ^= 0x10
    base.write_bytes(bytes(data))
    with pytest.raises(StoreCorruptError, match="CRC"):
        RevocationStore.open(held_store, LIST_ID)
    RevocationStore.open(held_store, LIST_ID, verify=False).close()  # only the full check reads every rid


@pytest.mark.parametrize(
    "garbage",
    [b"", b"{not json", b"[]", b'{"format": 1}', b"\xff\xfe", b"{}" * 600_000],
    ids=["empty", "not-json", "array", "missing-keys", "not-utf8", "too-large"],
)
def test_a_garbage_manifest_is_detected(held_store: Path, garbage: bytes) -> None:
    (held_store / MANIFEST_NAME).write_bytes(garbage)
    with pytest.raises(StoreCorruptError, match="remove the directory and apply a full snapshot"):
        RevocationStore.open(held_store, LIST_ID)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ('"seq":3,', '"seq":4,'),
        ('"file":"seg-', '"file":"../seg-'),
        ('"count":20', '"count":21'),
        ('"gen":', '"gen":-'),
    ],
)
def test_a_manifest_that_lies_is_detected(held_store: Path, old: str, new: str) -> None:
    path = held_store / MANIFEST_NAME
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    with pytest.raises(StoreCorruptError):
        RevocationStore.open(held_store, LIST_ID)


def test_a_missing_or_damaged_segment_is_detected(held_store: Path) -> None:
    segment = sorted(held_store.glob("seg-*.rids"))[0]
    data = segment.read_bytes()
    segment.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    with pytest.raises(StoreCorruptError, match="CRC"):
        RevocationStore.open(held_store, LIST_ID)
    segment.unlink()
    with pytest.raises(StoreCorruptError, match="missing"):
        RevocationStore.open(held_store, LIST_ID)


def test_a_failed_commit_keeps_the_old_version(held_store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = RevocationStore.open(held_store, LIST_ID)
    before = answers(store, POOL)

    def full_card(path: Path, data: bytes) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(revocation_store, "write_atomic", full_card)
    with pytest.raises(StoreError, match="No space left"):
        store.apply(update(4, 3, [], POOL[10:20]))
    assert (store.seq, answers(store, POOL)) == (3, before)
    monkeypatch.undo()
    store.close()
    reopened = RevocationStore.open(held_store, LIST_ID)
    assert (reopened.seq, answers(reopened, POOL)) == (3, before)
    reopened.apply(update(4, 3, [], POOL[10:20]))  # the stray segment of the failed try is cleaned up
    assert len(list(held_store.glob("seg-*.rids"))) == 3
    reopened.close()


def test_segments_past_their_bound_become_a_base(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(revocation_store, "MAX_SEGMENTS_HELD", 2)
    monkeypatch.setattr(revocation_store, "MERGE_SEGMENTS", 2)
    store = RevocationStore.open(tmp_path, LIST_ID, create=True)
    store.apply(update(1, 0, POOL[:5]))
    store.apply(update(2, 1, POOL[5:6]))
    assert not merge_due(store)
    store.apply(update(3, 2, POOL[6:7]))
    assert merge_due(store)
    store.apply(update(4, 3, POOL[7:8], POOL[:1]))
    manifest = store.view().manifest
    assert manifest is not None and not manifest.segments and manifest.base.seq == 4
    assert answers(store, POOL) == set(POOL[1:8])
    store.close()


class _Interleave(threading.Event):
    """A merge's stop event that runs something the first time the merge looks at it (mid-merge)."""

    def __init__(self, action: object) -> None:
        super().__init__()
        self.action = action

    def is_set(self) -> bool:
        if callable(self.action):
            action, self.action = self.action, None
            action()
        return super().is_set()


def test_a_merge_keeps_the_updates_applied_while_it_ran(held_store: Path) -> None:
    store = RevocationStore.open(held_store, LIST_ID)
    other = RevocationStore.open(held_store, LIST_ID)  # another holder of the same directory (another process)
    expected = (answers(store, POOL) | {POOL[0]}) - {POOL[30]}
    assert store.merge(_Interleave(lambda: other.apply(update(4, 3, [POOL[0]], [POOL[30]]))))
    manifest = store.view().manifest
    assert manifest is not None and manifest.base.seq == 3 and [s.seq for s in manifest.segments] == [4]
    assert (store.seq, answers(store, POOL)) == (4, expected)
    store.close()
    other.close()
    reopened = RevocationStore.open(held_store, LIST_ID)
    assert (reopened.seq, answers(reopened, POOL)) == (4, expected)
    reopened.close()


def test_a_merge_gives_way_to_a_snapshot_and_to_stop(held_store: Path) -> None:
    store = RevocationStore.open(held_store, LIST_ID)
    other = RevocationStore.open(held_store, LIST_ID)
    assert not store.merge(_Interleave(lambda: other.apply(update(9, 0, POOL[:3]))))
    assert (store.seq, answers(store, POOL)) == (9, set(POOL[:3]))
    store.apply(update(10, 9, [POOL[5]]))
    stop = threading.Event()
    stop.set()
    before = disk_state(held_store)
    assert not store.merge(stop)
    assert disk_state(held_store) == before
    store.close()
    other.close()


def test_merge_loop_merges_when_due_and_stops(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(revocation_store, "MERGE_SEGMENTS", 2)
    store = RevocationStore.open(tmp_path, LIST_ID, create=True)
    store.apply(update(1, 0, POOL[:5]))
    store.apply(update(2, 1, POOL[5:6]))
    store.apply(update(3, 2, POOL[6:7]))
    stop = threading.Event()
    merger = threading.Thread(target=store.merge_loop, args=(stop, 0.005), name="merger")
    merger.start()
    try:
        for _ in range(2_000):
            if not merge_due(store):
                break
            stop.wait(0.005)
    finally:
        stop.set()
        merger.join(timeout=10)
    assert not merger.is_alive()
    assert not merge_due(store) and answers(store, POOL) == set(POOL[:7])
    store.close()


def test_lookups_during_applies_and_merges_see_one_version(tmp_path: Path) -> None:
    halves = [frozenset(POOL[::2]), frozenset(POOL[1::2])]
    versions = {1: halves[0]}
    store = RevocationStore.open(tmp_path, LIST_ID, create=True)
    store.apply(update(1, 0, halves[0]))
    for seq in range(2, 41):
        versions[seq] = halves[(seq - 1) % 2] | {POOL[seq % len(POOL)]}
    seen: dict[int, int] = {}
    wrong: list[str] = []
    done = threading.Event()

    def reader() -> None:
        while not done.is_set():
            view = store.view()
            got = answers(view, POOL)
            if got != versions[view.seq]:
                wrong.append(f"version {view.seq} answered {len(got)} rids")
            seen[view.seq] = seen.get(view.seq, 0) + 1

    thread = threading.Thread(target=reader, name="reader")
    thread.start()
    try:
        for seq in range(2, 41):
            previous = versions[seq - 1]
            store.apply(update(seq, seq - 1, versions[seq] - previous, previous - versions[seq]))
            if seq % 4 == 0:
                store.merge()
    finally:
        done.set()
        thread.join(timeout=30)
    assert not wrong and len(seen) > 1
    assert answers(store, POOL) == versions[40]
    store.close()


def test_an_old_base_stays_readable_for_a_pinned_view(held_store: Path) -> None:
    store = RevocationStore.open(held_store, LIST_ID)
    pinned = store.view()
    before = answers(pinned, POOL)
    store.apply(update(4, 3, [], POOL[4:10]))
    assert store.merge()
    assert pinned.manifest is not None and not (held_store / pinned.manifest.base.file).exists()
    assert answers(pinned, POOL) == before  # still reads its own (unlinked) base
    store.close()


def test_a_copied_store_opens_the_same(held_store: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    copy = tmp_path_factory.mktemp("copy") / "store"
    shutil.copytree(held_store, copy)
    a, b = RevocationStore.open(held_store, LIST_ID), RevocationStore.open(copy, LIST_ID)
    assert answers(a, POOL) == answers(b, POOL) and a.disk_bytes() == b.disk_bytes() > 0
    a.close()
    b.close()
    with pytest.raises(StoreError, match="closed"):
        _ = POOL[0] in a
