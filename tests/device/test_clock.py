"""Clock trust: sources, the persisted last trusted time, and a clock that went backwards."""

from __future__ import annotations

from pathlib import Path

from sqlite_utils import Database

from device.clock import PERSIST_EVERY_S, ClockTrust, FakeClock, TimeSource, TimesyncdStatus
from device.store import DeviceStore


class Ntp:
    def __init__(self, synced: bool) -> None:
        self.synced = synced

    def synchronized(self) -> bool:
        return self.synced


def test_untrusted_clock_persists_nothing() -> None:
    store = DeviceStore(Database(memory=True))
    trust = ClockTrust(FakeClock(), store, Ntp(synced=False))
    trust.tick()
    assert trust.source() is TimeSource.UNTRUSTED
    assert trust.state().last_trusted is None


def test_ntp_time_is_persisted_and_a_backwards_clock_is_caught_after_reboot() -> None:
    store = DeviceStore(Database(memory=True))
    clock = FakeClock(now=1_800_000_000.0)
    trust = ClockTrust(clock, store, Ntp(synced=True))
    trust.tick()
    assert trust.source() is TimeSource.NTP
    assert store.get_meta(ClockTrust.KEY) == repr(1_800_000_000.0)
    # Reboot without an RTC: the clock starts in the past, NTP not yet synchronised.
    rebooted = ClockTrust(FakeClock(now=1_700_000_000.0), store, Ntp(synced=False))
    assert rebooted.state().last_trusted == 1_800_000_000.0
    assert not rebooted.state().vouches_for(rebooted.now())


def test_persisting_is_rate_limited() -> None:
    store = DeviceStore(Database(memory=True))
    clock = FakeClock()
    trust = ClockTrust(clock, store, Ntp(synced=True))
    trust.tick()
    first = store.get_meta(ClockTrust.KEY)
    clock.advance(PERSIST_EVERY_S / 2)
    trust.tick()
    assert store.get_meta(ClockTrust.KEY) == first
    assert trust.state().last_trusted == clock.now  # in memory it is always current
    clock.advance(PERSIST_EVERY_S)
    trust.tick()
    assert store.get_meta(ClockTrust.KEY) == repr(clock.now)


def test_hub_time_corrects_the_clock_by_an_offset() -> None:
    store = DeviceStore(Database(memory=True))
    clock = FakeClock(now=1_000.0)
    trust = ClockTrust(clock, store, Ntp(synced=False))
    trust.hub_time(1_800_000_000.0)
    assert trust.source() is TimeSource.HUB
    assert trust.state().last_trusted == 1_800_000_000.0
    # hub_time comes from the sync thread: it never writes through the store's connection itself
    assert store.get_meta(ClockTrust.KEY) is None
    trust.tick()  # the owning thread's housekeeping persists it
    assert store.get_meta(ClockTrust.KEY) == repr(1_800_000_000.0)
    clock.advance(10)
    assert trust.now() == 1_800_000_010.0


def test_timesyncd_flag(tmp_path: Path) -> None:
    flag = tmp_path / "synchronized"
    status = TimesyncdStatus(flag)
    assert not status.synchronized()
    flag.touch()
    assert status.synchronized()
