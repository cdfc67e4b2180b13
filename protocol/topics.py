"""The MQTT topic tree of the sync contract (sync spec, "Topic tree"): builders and one parser.

No other module writes a topic string by hand. Device ids are ``[a-z0-9-]{1,64}`` (they are also broker user
names); list ids are ``[A-Za-z0-9-]{1,64}``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

ROOT = "gridpass/v1"
DEVICE_ID = re.compile(r"[a-z0-9-]{1,64}")
LIST_ID = re.compile(r"[A-Za-z0-9-]{1,64}")
SHARE_GROUP = re.compile(r"[A-Za-z0-9_-]{1,64}")


class TopicError(ValueError):
    """A topic or an id that is not part of the tree."""


class Stream(StrEnum):
    """Device-to-hub record streams, in the order they drain (after state and acks)."""

    EVENTS = "events"
    INCIDENTS = "incidents"
    SNAPSHOTS = "snapshots"


class Down(StrEnum):
    """Hub-to-device topics under a device's subtree."""

    ACK = "ack"
    CONFIG = "config"
    CMD = "cmd"
    LISTS = "lists"
    """Revocation updates a device missed, sent to it alone (an addition to the spec's table): when its birth
    reports a version from which the retained ``dist/`` update does not apply, the hub sends the chain of deltas
    or the newest snapshot and the deltas since, in order."""
    MEDIA = "media"
    """The hub's progress answers to image chunks (``protocol/media.py``): an addition to the spec's table, inside
    the device's own ``down/`` subtree (which the broker already lets it read)."""


@dataclass(frozen=True, slots=True)
class Topic:
    """A parsed topic: which device or list it concerns and what it carries."""

    kind: str
    """``state``, ``up``, ``down``, ``result``, ``revocations`` or ``trustlist``."""
    device: str | None = None
    stream: Stream | None = None
    down: Down | None = None
    list_id: str | None = None


def check_device_id(device: str) -> str:
    """Return ``device`` if it is a valid device id, else raise :class:`TopicError`."""
    if not DEVICE_ID.fullmatch(device):
        raise TopicError(f"device id {device!r} is not 1-64 of a-z, 0-9 and '-'")
    return device


def check_list_id(list_id: str) -> str:
    """Return ``list_id`` if it is a valid list id, else raise :class:`TopicError`."""
    if not LIST_ID.fullmatch(list_id):
        raise TopicError(f"list id {list_id!r} is not 1-64 of A-Z, a-z, 0-9 and '-'")
    return list_id


def device_root(device: str) -> str:
    """``gridpass/v1/dev/{dev}``: the subtree a device may publish under."""
    return f"{ROOT}/dev/{check_device_id(device)}"


def state(device: str) -> str:
    """Retained birth / last will of a device."""
    return f"{device_root(device)}/state"


def up(device: str, stream: Stream) -> str:
    """Where a device publishes the batches of one stream."""
    return f"{device_root(device)}/up/{Stream(stream).value}"


def down(device: str, what: Down) -> str:
    """Where the hub publishes acks, config or commands for one device."""
    return f"{device_root(device)}/down/{Down(what).value}"


def media(device: str) -> str:
    """Where the hub answers a device's image chunks with its progress (``down/media``)."""
    return down(device, Down.MEDIA)


def result(device: str) -> str:
    """Where a device answers commands (an addition to the spec's table, inside the device's own subtree)."""
    return f"{device_root(device)}/result"


def revocations(list_id: str) -> str:
    """Retained current revocation version of one list."""
    return f"{ROOT}/dist/{check_list_id(list_id)}/revocations"


def trustlist() -> str:
    """Retained current trust list."""
    return f"{ROOT}/dist/trustlist"


def hub_subscriptions(share_group: str | None = None) -> list[str]:
    """What a hub worker subscribes to: every device's state, command results and up streams.

    With ``share_group`` all three go through MQTT 5 shared subscriptions, so several hub workers split the load and
    each message is handled once: presence lives in the shared database and is applied in the device's own order
    whichever worker gets a state message (hub/storage/presence.py), so no worker needs to see every birth. (When
    every worker took every birth, a fleet reconnecting at once cost each worker the whole fleet's births, and the
    catch-up a birth triggers was sent once per worker: measured in tests/bench/bench_fleet.py.)
    """
    filters = [f"{ROOT}/dev/+/state", f"{ROOT}/dev/+/result", f"{ROOT}/dev/+/up/+"]
    if share_group is None:
        return filters
    if not SHARE_GROUP.fullmatch(share_group):
        raise TopicError(f"share group {share_group!r} is not 1-64 of A-Z, a-z, 0-9, '_' and '-'")
    return [f"$share/{share_group}/{f}" for f in filters]


def device_subscriptions(device: str, list_ids: tuple[str, ...]) -> list[str]:
    """What a device subscribes to: its own ``down/`` and the ``dist/`` topics of its lists."""
    return [f"{device_root(device)}/down/+", trustlist(), *(revocations(list_id) for list_id in list_ids)]


def parse(topic: str) -> Topic:
    """Parse any topic of the tree; anything else is a :class:`TopicError`."""
    parts = topic.split("/")
    if len(parts) < 3 or f"{parts[0]}/{parts[1]}" != ROOT:
        raise TopicError(f"not a gridpass/v1 topic: {topic[:120]!r}")
    rest = parts[2:]
    try:
        match rest:
            case ["dev", device, "state"]:
                return Topic("state", device=check_device_id(device))
            case ["dev", device, "up", stream]:
                return Topic("up", device=check_device_id(device), stream=Stream(stream))
            case ["dev", device, "result"]:
                return Topic("result", device=check_device_id(device))
            case ["dev", device, "down", what]:
                return Topic("down", device=check_device_id(device), down=Down(what))
            case ["dist", "trustlist"]:
                return Topic("trustlist")
            case ["dist", list_id, "revocations"]:
                return Topic("revocations", list_id=check_list_id(list_id))
    except ValueError as exc:
        raise TopicError(f"not a gridpass/v1 topic: {topic[:120]!r}") from exc
    raise TopicError(f"not a gridpass/v1 topic: {topic[:120]!r}")
