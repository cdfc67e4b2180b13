"""Which store a device's batches come from (a replaced store is refused until resolved, then taken above the hub's
records only) and the keys it rotated away from; on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine

from hub.storage import identity
from hub.storage.engine import writing
from hub.storage.errors import InvalidValueError, UnknownDeviceError
from hub.storage.ingest import count_refusal, store_batch, stream_progress
from protocol.topics import Stream
from tests.hub.storage.support import DEVICE, T0, cose, enrol, public_key, records

OLD, NEW, LATER = "0a0a0a0a", "0b0b0b0b", "0c0c0c0c"
STORE_OLD = OLD + "0" * 24
STORE_NEW = NEW + "1" * 24


def _store(engine: Engine, *seqs: int) -> None:
    store_batch(engine, DEVICE, Stream.EVENTS, cose(*seqs), records(*seqs), now=T0)


def test_the_first_store_is_taken_and_stays_taken(hub_engine: Engine) -> None:
    enrol(hub_engine)
    assert identity.admit(hub_engine, DEVICE, OLD, now=T0, first_seq=1) is None
    _store(hub_engine, 1, 2, 3)
    assert identity.admit(hub_engine, DEVICE, OLD, now=T0, first_seq=1) is None  # a resend
    assert identity.admit(hub_engine, DEVICE, OLD, now=T0) is None  # its birth
    [store] = identity.stores(hub_engine, DEVICE)
    assert (store.tag, store.state) == (OLD, identity.StoreState.CURRENT)


def test_a_new_store_before_any_record_replaces_the_old_one_quietly(hub_engine: Engine) -> None:
    enrol(hub_engine)
    assert identity.admit(hub_engine, DEVICE, OLD, now=T0) is None
    assert identity.admit(hub_engine, DEVICE, NEW, now=T0 + 1, first_seq=1) is None
    states = {store.tag: store.state for store in identity.stores(hub_engine, DEVICE)}
    assert states == {OLD: identity.StoreState.RETIRED, NEW: identity.StoreState.CURRENT}
    assert identity.store_conflicts(hub_engine) == []


def test_a_replaced_store_is_refused_and_shown_to_operators(hub_engine: Engine) -> None:
    enrol(hub_engine)
    identity.admit(hub_engine, DEVICE, OLD, now=T0, store_id=STORE_OLD)  # its birth
    _store(hub_engine, 1, 2, 3, 5)
    # its batch may come before its birth (another worker): the batch alone is enough
    assert identity.admit(hub_engine, DEVICE, NEW, now=T0 + 1, first_seq=1) == identity.STORE_REPLACED
    count_refusal(hub_engine, identity.STORE_REPLACED, DEVICE, now=T0 + 1)
    assert identity.admit(hub_engine, DEVICE, NEW, now=T0 + 2, first_seq=201) == identity.STORE_REPLACED
    assert identity.admit(hub_engine, DEVICE, NEW, now=T0 + 3, store_id=STORE_NEW) == identity.STORE_REPLACED
    [conflict] = identity.store_conflicts(hub_engine)
    assert (conflict.device_id, conflict.tag, conflict.store_id) == (DEVICE, NEW, STORE_NEW)
    assert conflict.refused == 1
    assert conflict.held == {"events": 5}
    assert conflict.last_seen_at == T0 + 3
    assert identity.admit(hub_engine, DEVICE, OLD, now=T0 + 4, first_seq=6) is None  # the old one is still current


def test_resolving_takes_the_new_store_above_the_hubs_records_only(hub_engine: Engine) -> None:
    enrol(hub_engine)
    identity.admit(hub_engine, DEVICE, OLD, now=T0, store_id=STORE_OLD)  # its birth
    _store(hub_engine, 1, 2, 3, 5)
    identity.admit(hub_engine, DEVICE, NEW, now=T0 + 1, first_seq=1)
    with writing(hub_engine) as conn:
        resolution = identity.resolve(conn, DEVICE, by="op", now=T0 + 2)
    assert resolution.bases == {Stream.EVENTS: 5}
    assert resolution.lost == {Stream.EVENTS: 1}  # seq 4 of the old store never came and never will
    assert not resolution.again
    assert stream_progress(hub_engine, DEVICE, Stream.EVENTS).contiguous_upto == 5
    assert identity.store_conflicts(hub_engine) == []
    # not renumbered yet: its old numbers are refused, never acked as duplicates
    assert identity.admit(hub_engine, DEVICE, NEW, now=T0 + 3, first_seq=1) == identity.STORE_RENUMBERING
    assert identity.admit(hub_engine, DEVICE, NEW, now=T0 + 3, first_seq=5) == identity.STORE_RENUMBERING
    assert identity.admit(hub_engine, DEVICE, OLD, now=T0 + 3, first_seq=6) == identity.STORE_RETIRED
    # asked again before the terminal renumbered: the same bases
    with writing(hub_engine) as conn:
        again = identity.resolve(conn, DEVICE, by="op", now=T0 + 4)
    assert again.again and again.bases == {Stream.EVENTS: 5} and again.tag == NEW
    assert identity.admit(hub_engine, DEVICE, NEW, now=T0 + 5, first_seq=6) is None
    result = store_batch(hub_engine, DEVICE, Stream.EVENTS, cose(6, 7), records(6, 7), now=T0 + 5)
    assert (result.stored, result.contiguous_upto) == (2, 7)
    with writing(hub_engine) as conn, pytest.raises(identity.NothingToResolveError):
        identity.resolve(conn, DEVICE, by="op", now=T0 + 6)


def test_a_third_store_while_one_is_in_conflict_is_in_conflict_too(hub_engine: Engine) -> None:
    enrol(hub_engine)
    identity.admit(hub_engine, DEVICE, OLD, now=T0, store_id=STORE_OLD)  # its birth
    _store(hub_engine, 1)
    assert identity.admit(hub_engine, DEVICE, NEW, now=T0 + 1, first_seq=1) == identity.STORE_REPLACED
    assert identity.admit(hub_engine, DEVICE, LATER, now=T0 + 2, first_seq=1) == identity.STORE_REPLACED
    with writing(hub_engine) as conn:
        resolution = identity.resolve(conn, DEVICE, by="op", now=T0 + 3)
    assert resolution.tag == LATER  # the newest is taken; the others are retired
    states = {store.tag: store.state for store in identity.stores(hub_engine, DEVICE)}
    assert states == {OLD: identity.StoreState.RETIRED, NEW: identity.StoreState.RETIRED,
                      LATER: identity.StoreState.CURRENT}  # fmt: skip


def test_a_terminal_that_never_reported_a_store_id_is_never_taken_for_a_replaced_store(hub_engine: Engine) -> None:
    """Firmware without store ids makes every boot id random: each boot would look like another store."""
    enrol(hub_engine)
    assert identity.admit(hub_engine, DEVICE, OLD, now=T0, first_seq=1) is None
    _store(hub_engine, 1, 2)
    assert identity.admit(hub_engine, DEVICE, NEW, now=T0 + 1, first_seq=3) is None
    assert identity.store_conflicts(hub_engine) == []
    # the first birth that reports a store id turns the check on
    assert identity.admit(hub_engine, DEVICE, NEW, now=T0 + 2, store_id=STORE_NEW) is None
    assert identity.admit(hub_engine, DEVICE, LATER, now=T0 + 3, first_seq=1) == identity.STORE_REPLACED


def test_nothing_to_resolve_and_unknown_devices_are_refused(hub_engine: Engine) -> None:
    enrol(hub_engine)
    with writing(hub_engine) as conn, pytest.raises(identity.NothingToResolveError):
        identity.resolve(conn, DEVICE, by="op", now=T0)
    with pytest.raises(UnknownDeviceError):
        identity.admit(hub_engine, "nobody", OLD, now=T0)
    with pytest.raises(InvalidValueError):
        identity.admit(hub_engine, DEVICE, "XYZ", now=T0)


def test_retired_keys_are_kept_with_their_rotation(hub_engine: Engine) -> None:
    enrol(hub_engine)
    old, new = public_key(), public_key()
    with writing(hub_engine) as conn:
        identity.retire_key(conn, DEVICE, old_key=old, old_kid=b"\x01" * 8, new_key=new, new_kid=b"\x02" * 8,
                            command_id="cmd-1", rotation=b"signed", now=T0)  # fmt: skip
    retired = identity.retired_key(hub_engine, DEVICE, b"\x01" * 8)
    assert retired is not None
    assert (retired.public_key, retired.replaced_by, retired.command_id) == (old, "02" * 8, "cmd-1")
    assert identity.retired_key(hub_engine, DEVICE, b"\x02" * 8) is None
    assert [key.kid for key in identity.key_history(hub_engine, DEVICE)] == ["01" * 8]
