"""store_batch against a model: a set of stored seqs per stream, random batches with duplicates and gaps."""

from __future__ import annotations

import itertools

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine

from hub.storage import ingest
from hub.storage.ingest import store_batch
from hub.storage.models import Event, RelayOutbox
from protocol.topics import Stream
from tests.hub.storage.support import T0, enrol, records

EVENTS = Stream.EVENTS
_device_numbers = itertools.count(1)

batch = st.lists(st.integers(1, 48), min_size=1, max_size=12, unique=True).map(sorted)


def model_progress(held: set[int]) -> tuple[int, list[tuple[int, int]]]:
    """contiguous_upto and the first missing ranges of a set of stored seqs."""
    contiguous = 0
    while contiguous + 1 in held:
        contiguous += 1
    missing: list[tuple[int, int]] = []
    gap_start = None
    for seq in range(contiguous + 1, max(held, default=0) + 1):
        if seq not in held and gap_start is None:
            gap_start = seq
        elif seq in held and gap_start is not None:
            missing.append((gap_start, seq - 1))
            gap_start = None
    return contiguous, missing[: ingest.MAX_MISSING_RANGES]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=st.lists(batch, min_size=1, max_size=8), resend=st.lists(st.booleans(), min_size=8, max_size=8))
def test_store_batch_matches_the_model(hub_engine: Engine, batches: list[list[int]], resend: list[bool]) -> None:
    device = enrol(hub_engine, f"model-{next(_device_numbers)}")  # one stream per example, same database
    held: set[int] = set()
    relayed = 0
    for index, seqs in enumerate(batches):
        # An exact resend repeats the bytes of an earlier batch with these seqs; otherwise the bytes are new.
        data = f"{device}:{seqs}:{'' if resend[index] else index}".encode()
        result = store_batch(hub_engine, device, EVENTS, data, records(*seqs), now=T0 + index)
        new = set(seqs) - held
        held |= new
        relayed += bool(new)
        contiguous, missing = model_progress(held)
        assert (result.stored, result.duplicates) == (len(new), len(seqs) - len(new))
        assert (result.contiguous_upto, result.missing, result.max_seq) == (contiguous, missing, max(held))
        assert (result.batch_id is not None) == bool(new)
    with hub_engine.connect() as conn:
        stored = conn.execute(sa.select(Event.seq).where(Event.device_id == device)).scalars().all()
        outbox = conn.execute(
            sa.select(sa.func.count()).select_from(RelayOutbox).where(RelayOutbox.device_id == device)
        ).scalar_one()
    assert sorted(stored) == sorted(held)
    assert outbox == relayed
