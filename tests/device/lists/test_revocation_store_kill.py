"""kill -9 in the middle of an apply or a merge leaves exactly the old version or exactly the new one.

A child process opens a copy of a store, says it is ready, then applies an update (or merges); the parent SIGKILLs
it after a delay drawn across the operation's measured length. Then the store must open, answer from the old or the
new version and nothing else, and take the next update.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from device.lists.manifest import DATA_FILE
from device.lists.revocation_store import RevocationStore
from tests.device.lists.support import LIST_ID, random_rids, update

REPO = Path(__file__).resolve().parents[3]
KILLS_PER_OPERATION = 6
BASE_RIDS = 300_000
CHILD = """
import sys
from pathlib import Path
from device.lists.revocation_store import RevocationStore
from protocol.revocation import RevocationUpdate

directory, op = Path(sys.argv[1]), sys.argv[2]
store = RevocationStore.open(directory, sys.argv[3], verify=False)
if op == "apply":
    seq, base = int(sys.argv[4]), int(sys.argv[5])
    add, delete = Path(sys.argv[6]).read_bytes(), Path(sys.argv[7]).read_bytes()
    todo = lambda: store.apply(RevocationUpdate(store.list_id, seq, base, seq, add, delete))
else:
    todo = store.merge
print("ready", flush=True)
todo()
print("done", flush=True)
"""


def split(data: bytes) -> set[bytes]:
    return {data[i : i + 16] for i in range(0, len(data), 16)}


def joined(rids: set[bytes]) -> bytes:
    return b"".join(sorted(rids))


@dataclass(frozen=True)
class Operation:
    """One operation to interrupt: the child's arguments and the versions it goes from and to."""

    name: str
    args: list[str]
    old: tuple[int, bytes]
    new: tuple[int, bytes]


def run_child(directory: Path, op: Operation, delay_s: float | None) -> float:
    """Run the operation in a child; kill it ``delay_s`` after it is ready (None: let it finish). Its run time."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(directory), *op.args], stdout=subprocess.PIPE, cwd=REPO, env=env
    )
    assert child.stdout is not None
    assert child.stdout.readline() == b"ready\n"
    started = time.perf_counter()
    if delay_s is not None:
        time.sleep(delay_s)  # the moment of the kill: the one sleep these tests need
        child.kill()
    child.communicate(timeout=120)
    if delay_s is None:
        assert child.returncode == 0
    return time.perf_counter() - started


def check_whole(directory: Path, op: Operation) -> str:
    """The store opens at the old or the new version with exactly its rids; returns which."""
    store = RevocationStore.open(directory, LIST_ID)
    held = b"".join(chunk.tobytes() for chunk in store.view().chunks())
    outcome = {op.old: "old", op.new: "new"}.get((store.seq, held))  # a merge's two versions have the same rids
    assert outcome is not None, f"after a kill during {op.name}: version {store.seq} with {len(held) // 16} rids"
    store.apply(update(store.seq + 1, store.seq, [bytes(16)]))  # still writable; strays are cleaned up
    manifest = store.view().manifest
    assert manifest is not None
    data_files = {p.name for p in directory.iterdir() if DATA_FILE.fullmatch(p.name)}
    assert data_files == set(manifest.files)
    store.close()
    return outcome


@pytest.fixture(scope="module")
def operations(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list[Operation]]:
    """Two template stores (a base of 300k rids; the same with two segments) and the operations to interrupt."""
    work = tmp_path_factory.mktemp("kill")
    base = random_rids(BASE_RIDS, seed=1)
    held = split(base)
    plain = work / "plain"
    store = RevocationStore.open(plain, LIST_ID, create=True)
    store.apply(update(1, 0))
    store.apply(update(2, 0, held))
    store.close()
    fresh = split(random_rids(80_000, seed=2))
    gone = set(random.Random(3).sample(sorted(held), 40_000))
    (work / "add.bin").write_bytes(joined(fresh))
    (work / "del.bin").write_bytes(joined(gone))
    snapshot = split(random_rids(BASE_RIDS, seed=4))
    (work / "snap.bin").write_bytes(joined(snapshot))
    (work / "none.bin").write_bytes(b"")
    segmented = work / "segmented"
    shutil.copytree(plain, segmented)
    store = RevocationStore.open(segmented, LIST_ID)
    store.apply(update(3, 2, fresh))
    store.apply(update(4, 3, (), gone))
    store.close()
    after = (held | fresh) - gone
    args = [str(work / name) for name in ("add.bin", "del.bin", "snap.bin", "none.bin")]
    return (
        plain,
        segmented,
        [
            Operation("delta", ["apply", LIST_ID, "3", "2", args[0], args[1]], (2, base), (3, joined(after))),
            Operation("snapshot", ["apply", LIST_ID, "7", "0", args[2], args[3]], (2, base), (7, joined(snapshot))),
            Operation("merge", ["merge", LIST_ID], (4, joined(after)), (4, joined(after))),
        ],
    )


@pytest.mark.parametrize("index", [0, 1, 2], ids=["delta", "snapshot", "merge"])
def test_kill_9_leaves_the_old_or_the_new_version(
    operations: tuple[Path, Path, list[Operation]], tmp_path: Path, index: int
) -> None:
    plain, segmented, ops = operations
    op = ops[index]
    template = segmented if op.name == "merge" else plain
    calibration = tmp_path / "calibration"
    shutil.copytree(template, calibration)
    length_s = run_child(calibration, op, None)
    assert check_whole(calibration, op) == "new"
    rng = random.Random(index)
    for attempt in range(KILLS_PER_OPERATION):
        copy = tmp_path / f"kill-{attempt}"
        shutil.copytree(template, copy)
        run_child(copy, op, rng.uniform(0, 1.2 * length_s))
        check_whole(copy, op)  # which of the two it is depends on timing, so it is not asserted
