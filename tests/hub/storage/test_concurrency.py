"""Several hub workers storing batches of one device at once on one database: each record once, no lost progress.

Every worker is a thread with its own pooled connection, so on PostgreSQL the transactions really overlap in the
server.
"""

from __future__ import annotations

import random
import threading
import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine

from hub.storage import ingest, queries
from hub.storage.ingest import StoreResult, store_batch
from hub.storage.models import Batch, Event, RelayOutbox
from protocol.topics import Stream
from tests.hub.storage.support import DEVICE, T0, cose, enrol, records

EVENTS = Stream.EVENTS
WORKERS = 3
JOIN_TIMEOUT_S = 60.0
WAIT_FOR_LOCK_S = 10.0


def run_workers(jobs: list[list[tuple[int, ...]]], engine: Engine) -> list[list[StoreResult]]:
    """Each job list is one worker's batches, stored in order; all workers start together."""
    results: list[list[StoreResult]] = [[] for _ in jobs]
    errors: list[BaseException] = []
    start = threading.Barrier(len(jobs), timeout=JOIN_TIMEOUT_S)

    def work(index: int) -> None:
        try:
            start.wait()
            for seqs in jobs[index]:
                data = cose(*seqs)  # the same seqs give the same bytes: an exact resend by another worker
                results[index].append(store_batch(engine, DEVICE, EVENTS, data, records(*seqs), now=T0))
        except BaseException as exc:  # noqa: BLE001 - reported by the test thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,), name=f"hub-worker-{i}") for i in range(len(jobs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(JOIN_TIMEOUT_S)
    assert not any(thread.is_alive() for thread in threads), "a worker did not finish"
    assert not errors, errors
    return results


def test_overlapping_batches_from_three_workers_store_every_record_once(hub_engine: Engine) -> None:
    """On PostgreSQL the transactions overlap in the server; on SQLite they queue on BEGIN IMMEDIATE."""
    pg_engine = hub_engine
    enrol(pg_engine)
    total = 600
    rng = random.Random(7)
    chunks = [tuple(range(start, min(start + 20, total + 1))) for start in range(1, total + 1, 20)]
    shifted = [tuple(range(start, min(start + 20, total + 1))) for start in range(11, total + 1, 20)]
    jobs = [chunks, shifted[::-1], rng.sample(chunks, len(chunks))]
    results = run_workers(jobs, pg_engine)

    flat = [result for worker in results for result in worker]
    assert sum(result.stored for result in flat) == total
    assert sum(result.stored + result.duplicates for result in flat) == sum(len(b) for job in jobs for b in job)
    for worker in results:  # each worker sees progress only move forward
        seen = [result.contiguous_upto for result in worker]
        assert seen == sorted(seen)
    progress = ingest.stream_progress(pg_engine, DEVICE, EVENTS)
    assert (progress.contiguous_upto, progress.max_seq) == (total, total)
    assert ingest.missing_ranges(pg_engine, DEVICE, EVENTS) == []
    counts = queries.event_counts(pg_engine)
    assert (counts.rows, counts.distinct) == (total, total)
    with pg_engine.connect() as conn:
        carried = conn.execute(
            sa.select(sa.func.count())
            .select_from(Event)
            .join(Batch, Batch.id == Event.batch_id)
            .where(Event.seq.between(Batch.first_seq, Batch.last_seq))
        ).scalar_one()
        relayed = conn.execute(sa.select(RelayOutbox.batch_id)).scalars().all()
    assert carried == total  # every record points at a batch that carried it
    assert sorted(relayed) == sorted(r.batch_id for r in flat if r.batch_id is not None)
    assert len(set(relayed)) == len(relayed)


def test_workers_storing_the_next_two_seqs_at_once_never_lose_progress(pg_engine: Engine) -> None:
    enrol(pg_engine)
    rounds = 40
    jobs: list[list[tuple[int, ...]]] = [[(2 * k + 1,) for k in range(rounds)], [(2 * k + 2,) for k in range(rounds)]]
    results = run_workers(jobs, pg_engine)
    assert ingest.stream_progress(pg_engine, DEVICE, EVENTS).contiguous_upto == 2 * rounds
    assert max(r.contiguous_upto for worker in results for r in worker) == 2 * rounds


def test_the_second_worker_waits_for_the_first_and_then_sees_its_record(pg_engine: Engine) -> None:
    """The race of the brief: seq 5 and seq 6 stored at the same time on top of 1..4.

    The first worker is held inside its transaction after storing seq 5 and before writing the stream's progress;
    the second must wait for it (a lock wait shows in pg_stat_activity), then see seq 5 and advance to 6.
    """
    enrol(pg_engine)
    store_batch(pg_engine, DEVICE, EVENTS, cose(1, 2, 3, 4), records(1, 2, 3, 4), now=T0)
    reached, release = threading.Event(), threading.Event()
    outcome: dict[str, StoreResult] = {}

    def hold_first(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:  # noqa: ANN401
        if threading.current_thread().name == "first" and statement.startswith("UPDATE stream_state"):
            reached.set()
            release.wait(JOIN_TIMEOUT_S)

    def worker(seq: int) -> None:
        outcome[threading.current_thread().name] = store_batch(
            pg_engine, DEVICE, EVENTS, cose(seq), records(seq), now=T0
        )

    first = threading.Thread(target=worker, args=(5,), name="first")
    second = threading.Thread(target=worker, args=(6,), name="second")
    event.listen(pg_engine, "before_cursor_execute", hold_first)
    try:
        first.start()
        assert reached.wait(JOIN_TIMEOUT_S)
        second.start()
        assert wait_for_lock_waiter(pg_engine, second), "the second worker did not wait for the first one"
        assert "second" not in outcome
    finally:
        release.set()
        first.join(JOIN_TIMEOUT_S)
        second.join(JOIN_TIMEOUT_S)
        event.remove(pg_engine, "before_cursor_execute", hold_first)
    assert (outcome["first"].contiguous_upto, outcome["second"].contiguous_upto) == (5, 6)
    assert ingest.stream_progress(pg_engine, DEVICE, EVENTS).contiguous_upto == 6


def wait_for_lock_waiter(engine: Engine, worker: threading.Thread) -> bool:
    """Whether some session of this database waits for a lock before ``worker`` ends, within a bounded time."""
    deadline = time.monotonic() + WAIT_FOR_LOCK_S
    with engine.connect() as conn:
        while time.monotonic() < deadline and worker.is_alive():
            waiting = conn.execute(
                sa.text(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            ).scalar_one()
            conn.rollback()
            if waiting:
                return True
            time.sleep(0.01)
    return False
