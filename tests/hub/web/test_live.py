"""Live updates: the frames, the changed-devices diff, the bounded stream, one snapshot for every screen."""

from __future__ import annotations

import asyncio
import json

from hub.web.live import LiveSettings, Snapshot, SnapshotCache, frame, stream, tick_payload


def _snapshot(devices: dict[str, str], at: float = 1.0) -> Snapshot:
    return Snapshot(at, {"pass": 1, "check": 0, "deny": 0, "invalid": 0}, {"S": {"pass": 1}}, {"online": 1}, devices)


def test_a_frame_is_one_event_with_json_on_one_line() -> None:
    text = frame("counts", {"b": 1, "a": "x\ny"})
    assert text == 'event: counts\ndata: {"a":"x\\ny","b":1}\n\n'


def test_the_first_tick_names_every_device_then_only_changes() -> None:
    first = tick_payload(_snapshot({"a": "online", "b": "offline"}), None)
    assert first["devices"] == {"a": "online", "b": "offline"}
    later = tick_payload(_snapshot({"a": "online", "b": "online", "c": "unknown"}), {"a": "online", "b": "offline"})
    assert later["devices"] == {"b": "online", "c": "unknown"}
    assert later["labels"]["unknown"] == "never heard"


def test_a_stream_ends_after_its_time_and_sleeps_between_ticks() -> None:
    clock = [0.0]
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock[0] += seconds

    states = iter([{"a": "online"}, {"a": "offline"}, {"a": "offline"}, {"a": "online"}])

    async def collect() -> list[str]:
        settings = LiveSettings(interval_s=5.0, max_s=19.0, retry_ms=700)
        return [chunk async for chunk in stream(lambda: _snapshot(next(states)), settings, monotonic=lambda: clock[0],
                                                sleep=sleep)]  # fmt: skip

    chunks = asyncio.run(collect())
    assert chunks[0] == "retry: 700\n\n"
    payloads = [json.loads(c.split("data: ", 1)[1]) for c in chunks[1:]]
    assert [p["devices"] for p in payloads] == [{"a": "online"}, {"a": "offline"}, {}, {"a": "online"}]
    assert slept == [5.0, 5.0, 5.0]


def test_screens_share_one_snapshot_per_interval() -> None:
    taken: list[int] = []
    now = [0.0]

    def take() -> Snapshot:
        taken.append(1)
        return _snapshot({}, at=now[0])

    cache = SnapshotCache(take, lambda: now[0], max_age_s=2.5)
    assert cache.get() is cache.get()
    now[0] = 2.0
    cache.get()
    assert len(taken) == 1
    now[0] = 2.6
    assert cache.get().at == 2.6
    now[0] = 1.0  # a clock that went back takes a fresh one
    cache.get()
    assert len(taken) == 3
