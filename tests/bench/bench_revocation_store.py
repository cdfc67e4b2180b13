"""The terminal's revocation store at the spec's scale, next to a plain Python set holding the same rids.

    python -m tests.bench.bench_revocation_store [--entries 1000000,10000000] [--lookups 100000] [--dir DIR]

For each size it builds a signed full snapshot of random rids with ``build_revocation_update``, verifies it with
``parse_revocation_update`` and applies it to a fresh store, then reports: bytes on disk; in a fresh process (so
that building does not pollute it) resident memory after opening the store and after N lookups, half hits and half
misses, and the p50/p99 of those lookups (``perf_counter_ns`` around each); the time to apply a signed
10,000-entry delta (5,000 added, 5,000 removed) and to merge it into a new base; and the same lookups against a
Python ``set`` (skipped above ``--reference-max`` entries: a set costs ~100 B per rid, ~1 GB at 10M).
Targets: 10M in at most 200 MB on disk, at most 50 MB resident, p99 at most 50 us, a 10k delta within 1 s.
Nothing here asserts on time: it reports.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # the lookup child imports as little as a terminal would: rich and the rest load in main()
    from rich.progress import Progress

    from device.lists.revocation_store import RevocationStore

LIST_ID = "BENCH-1"
DEFAULT_ENTRIES = (1_000_000, 10_000_000)
DEFAULT_LOOKUPS = 100_000
REFERENCE_MAX = 2_000_000
DELTA_ENTRIES = 10_000
MB = 1_000_000
METRICS = (
    "disk",
    "snapshot apply",
    "RSS before open (interpreter + imports)",
    "RSS after lookups",
    "RSS of the store itself",
    "lookup p50",
    "lookup p99",
    "RSS after lookups (base + 10k delta)",
    "lookup p99 (base + 10k delta)",
    "batch lookup (contains_many), per rid",
    "10k delta apply",
    "merge",
    "set: RSS of the set",
    "set: lookup p50",
    "set: lookup p99",
)
REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Row:
    """One measurement."""

    entries: int
    metric: str
    value: str
    target: str = ""
    note: str = ""


def rss_bytes() -> int:
    """Resident set size of this process now (VmRSS)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # pragma: no cover - not Linux


def random_rids(count: int, rng: np.random.Generator) -> bytes:
    """``count`` (or a handful fewer) distinct random rids, ascending, concatenated; sorted as 64-bit words."""
    hi = np.sort(np.frombuffer(rng.bytes(8 * count), dtype=">u8").astype(np.uint64))
    hi = hi[np.concatenate(([True], hi[1:] != hi[:-1]))]
    words = np.empty((len(hi), 2), dtype=">u8")
    words[:, 0] = hi
    words[:, 1] = np.frombuffer(rng.bytes(8 * len(hi)), dtype=">u8")
    return words.tobytes()


def split(rids: bytes) -> Iterator[bytes]:
    """Concatenated rids one by one."""
    return (rids[i : i + 16] for i in range(0, len(rids), 16))


def probes(rids: bytes, lookups: int, rng: np.random.Generator) -> bytes:
    """``lookups`` rids in random order: half taken from ``rids``, half random (misses, but for one in 2**100)."""
    count = len(rids) // 16
    hits = np.frombuffer(rids, dtype="S16")[rng.integers(0, count, size=lookups // 2)]
    misses = np.frombuffer(rng.bytes(16 * (lookups - lookups // 2)), dtype="S16")
    mixed = np.concatenate([hits, misses])
    return mixed[rng.permutation(len(mixed))].tobytes()


def serve(kind: str, path: Path, probe_path: Path) -> dict[str, float]:
    """In a fresh process: open the store (or build the set), look every probe up, report memory and latency."""
    from device.lists.revocation_store import RevocationStore

    data = probe_path.read_bytes()
    count = len(data) // 16
    times = np.zeros(count, dtype=np.int64)
    before = rss_bytes()
    held: RevocationStore | set[bytes]
    if kind == "store":
        held = RevocationStore.open(path, LIST_ID)
    else:
        raw = path.read_bytes()
        held = {raw[i : i + 16] for i in range(0, len(raw), 16)}
        del raw
    opened = rss_bytes()
    clock = time.perf_counter_ns
    hits = 0
    for i in range(count):
        rid = data[16 * i : 16 * i + 16]
        start = clock()
        found = rid in held
        end = clock()
        times[i] = end - start
        hits += found
    result: dict[str, float] = {"before": before, "opened": opened, "after": rss_bytes(), "hits": hits}
    result |= {"p50": float(np.percentile(times, 50)), "p99": float(np.percentile(times, 99))}
    if isinstance(held, RevocationStore):
        start = clock()
        batch = held.view().contains_many(data)
        result["batch_ns"] = (clock() - start) / count
        result["batch_hits"] = int(batch.sum())
    return result


def serve_in_child(kind: str, path: Path, probe_path: Path) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "tests.bench.bench_revocation_store", "--serve", kind, str(path), str(probe_path)]
    done = subprocess.run(command, capture_output=True, check=True, cwd=REPO, env=env, timeout=3600)
    result: dict[str, float] = json.loads(done.stdout.splitlines()[-1])
    return result


@contextmanager
def step(progress: Progress, what: str) -> Iterator[None]:
    task = progress.add_task(what, total=1)
    yield
    progress.update(task, completed=1)


def bench_size(entries: int, lookups: int, work: Path, reference_max: int, progress: Progress) -> list[Row]:
    from device.lists.revocation_store import RevocationStore
    from protocol.keys import Alg, generate_private_key
    from protocol.revocation import build_revocation_update, parse_revocation_update

    rng = np.random.default_rng(entries)
    root = generate_private_key(Alg.EDDSA)
    label = f"{entries:,}"
    with step(progress, f"{label}: random rids"):
        rids = random_rids(entries, rng)
        (work / "rids.bin").write_bytes(rids)
    with step(progress, f"{label}: sign the snapshot (build_revocation_update)"):
        document = build_revocation_update(root, list_id=LIST_ID, seq=1, base=0, ts=1, add=split(rids))
    with step(progress, f"{label}: verify and apply it"):
        snapshot = parse_revocation_update(document, root.public_key())
        del document
        store = RevocationStore.open(work / "store", LIST_ID, create=True)
        started = time.perf_counter()
        store.apply(snapshot)
        snapshot_s = time.perf_counter() - started
        del snapshot
    probe_path = work / "probes.bin"
    probe_path.write_bytes(probes(rids, lookups, rng))
    rows = [
        Row(
            entries,
            "disk",
            f"{store.disk_bytes() / MB:.1f} MB",
            "200 MB at 10M",
            f"{store.disk_bytes() / entries:.2f} B/rid",
        ),
        Row(entries, "snapshot apply", f"{snapshot_s:.2f} s", "", "writing the base (parse not included)"),
    ]
    with step(progress, f"{label}: {lookups:,} lookups in a fresh process"):
        served = serve_in_child("store", work / "store", probe_path)
    rows += [
        Row(entries, "RSS before open (interpreter + imports)", f"{served['before'] / MB:.1f} MB"),
        Row(entries, "RSS after lookups", f"{served['after'] / MB:.1f} MB", "50 MB", f"{int(served['hits']):,} hits"),
        Row(
            entries,
            "RSS of the store itself",
            f"{(served['after'] - served['before']) / MB:.1f} MB",
            "",
            "after - before",
        ),
        Row(entries, "lookup p50", f"{served['p50'] / 1000:.1f} us"),
        Row(entries, "lookup p99", f"{served['p99'] / 1000:.1f} us", "50 us"),
    ]
    with step(progress, f"{label}: sign, verify and apply a 10k delta"):
        picked = rng.choice(len(rids) // 16, min(DELTA_ENTRIES // 2, len(rids) // 32), replace=False)
        removed = np.frombuffer(rids, dtype="S16")[picked].tobytes()  # (an S16 element's bytes lose trailing zeros)
        added = random_rids(DELTA_ENTRIES // 2, rng)
        delta = build_revocation_update(
            root, list_id=LIST_ID, seq=2, base=1, ts=2, add=split(added), delete=split(removed)
        )
        update = parse_revocation_update(delta, root.public_key())
        started = time.perf_counter()
        store.apply(update)
        delta_s = time.perf_counter() - started
    with step(progress, f"{label}: lookups with the delta held"):
        served = serve_in_child("store", work / "store", probe_path)
    rows += [
        Row(entries, "RSS after lookups (base + 10k delta)", f"{served['after'] / MB:.1f} MB", "50 MB"),
        Row(entries, "lookup p99 (base + 10k delta)", f"{served['p99'] / 1000:.1f} us", "50 us"),
        Row(
            entries,
            "batch lookup (contains_many), per rid",
            f"{served['batch_ns'] / 1000:.2f} us",
            "",
            "gridpass lists check",
        ),
        Row(entries, "10k delta apply", f"{delta_s * 1000:.0f} ms", "1 s", "store.apply of the verified update"),
    ]
    with step(progress, f"{label}: merge"):
        started = time.perf_counter()
        store.merge()
        rows.append(Row(entries, "merge", f"{time.perf_counter() - started:.2f} s", "", "background thread"))
    store.close()
    if entries > reference_max:
        note = f"skipped above {reference_max:,} entries (~100 B per rid, so ~1 GB at 10M)"
        rows += [Row(entries, m, "-", "", note) for m in ("set: RSS of the set", "set: lookup p50", "set: lookup p99")]
        return rows
    with step(progress, f"{label}: the same lookups against a Python set"):
        served = serve_in_child("set", work / "rids.bin", probe_path)
    rows += [
        Row(entries, "set: RSS of the set", f"{(served['opened'] - served['before']) / MB:.1f} MB", "", "reference"),
        Row(entries, "set: lookup p50", f"{served['p50'] / 1000:.2f} us", "", "reference"),
        Row(entries, "set: lookup p99", f"{served['p99'] / 1000:.2f} us", "", "reference"),
    ]
    return rows


def main(argv: Sequence[str] | None = None) -> list[Row]:
    """Run the bench; print a table and return its rows."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", default=",".join(str(n) for n in DEFAULT_ENTRIES), help="comma-separated sizes")
    parser.add_argument("--lookups", type=int, default=DEFAULT_LOOKUPS)
    parser.add_argument("--reference-max", type=int, default=REFERENCE_MAX, help="largest size also run as a set")
    parser.add_argument("--dir", type=Path, default=None, help="where to build the stores (default: a temp dir)")
    parser.add_argument("--serve", nargs=3, metavar=("KIND", "PATH", "PROBES"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        kind, path, probe_path = args.serve
        print(json.dumps(serve(kind, Path(path), Path(probe_path))))
        return []
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
    from rich.table import Table

    console = Console()
    rows: list[Row] = []
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        for entries in (int(n) for n in args.entries.split(",")):
            work = Path(tempfile.mkdtemp(prefix=f"revstore-{entries}-", dir=args.dir))
            try:
                rows += bench_size(entries, args.lookups, work, args.reference_max, progress)
            finally:
                shutil.rmtree(work, ignore_errors=True)
    table = Table(title="Revocation store (device/lists) next to a Python set")
    for name in ("entries", "metric", "value", "target", "note"):
        table.add_column(name)
    for row in rows:
        table.add_row(f"{row.entries:,}", row.metric, row.value, row.target, row.note)
    console.print(table)
    return rows


if __name__ == "__main__":
    main()
