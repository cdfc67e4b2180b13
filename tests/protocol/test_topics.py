"""Topic builders and the parser agree, and nothing outside the tree parses."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol import topics
from protocol.topics import Down, Stream, Topic, TopicError

DEVICE_IDS = st.from_regex(r"[a-z0-9-]{1,64}", fullmatch=True)
LIST_IDS = st.from_regex(r"[A-Za-z0-9-]{1,64}", fullmatch=True)


@pytest.mark.parametrize(
    ("topic", "parsed"),
    [
        ("gridpass/v1/dev/scanner-01/state", Topic("state", device="scanner-01")),
        ("gridpass/v1/dev/scanner-01/up/events", Topic("up", device="scanner-01", stream=Stream.EVENTS)),
        ("gridpass/v1/dev/h1/up/incidents", Topic("up", device="h1", stream=Stream.INCIDENTS)),
        ("gridpass/v1/dev/c1/up/snapshots", Topic("up", device="c1", stream=Stream.SNAPSHOTS)),
        ("gridpass/v1/dev/c1/down/ack", Topic("down", device="c1", down=Down.ACK)),
        ("gridpass/v1/dev/c1/down/config", Topic("down", device="c1", down=Down.CONFIG)),
        ("gridpass/v1/dev/c1/down/cmd", Topic("down", device="c1", down=Down.CMD)),
        ("gridpass/v1/dist/CN-SH-PD/revocations", Topic("revocations", list_id="CN-SH-PD")),
        ("gridpass/v1/dist/trustlist", Topic("trustlist")),
        ("gridpass/v1/dev/c1/result", Topic("result", device="c1")),
    ],
)
def test_spec_topics_parse(topic: str, parsed: Topic) -> None:
    assert topics.parse(topic) == parsed


@pytest.mark.parametrize(
    "topic",
    [
        "",
        "gridpass",
        "gridpass/v2/dev/a/state",
        "gridpass/v1/dev/A/state",  # device ids are lower case
        "gridpass/v1/dev/a b/state",
        "gridpass/v1/dev/+/state",
        "gridpass/v1/dev/#",
        "gridpass/v1/dev/a/up/photos",
        "gridpass/v1/dev/a/down/reboot",
        "gridpass/v1/dev/a/state/extra",
        "gridpass/v1/dist/CN_SH/revocations",
        "gridpass/v1/dist/trustlist/x",
        "gridpass/v1/dev/" + "a" * 65 + "/state",
    ],
)
def test_foreign_topics_are_refused(topic: str) -> None:
    with pytest.raises(TopicError):
        topics.parse(topic)


def test_builders_match_the_spec_table() -> None:
    assert topics.state("d1") == "gridpass/v1/dev/d1/state"
    assert topics.up("d1", Stream.EVENTS) == "gridpass/v1/dev/d1/up/events"
    assert topics.down("d1", Down.ACK) == "gridpass/v1/dev/d1/down/ack"
    assert topics.revocations("CN-SH-PD") == "gridpass/v1/dist/CN-SH-PD/revocations"
    assert topics.trustlist() == "gridpass/v1/dist/trustlist"


def test_builders_refuse_ids_that_would_escape_the_subtree() -> None:
    for bad in ("a/b", "+", "#", "", "A", "a" * 65):
        with pytest.raises(TopicError):
            topics.state(bad)
    with pytest.raises(TopicError):
        topics.revocations("x/y")


def test_hub_subscriptions_are_all_shared_in_a_group() -> None:
    assert topics.hub_subscriptions() == [
        "gridpass/v1/dev/+/state",
        "gridpass/v1/dev/+/result",
        "gridpass/v1/dev/+/up/+",
    ]
    assert topics.hub_subscriptions("ingest") == [
        "$share/ingest/gridpass/v1/dev/+/state",
        "$share/ingest/gridpass/v1/dev/+/result",
        "$share/ingest/gridpass/v1/dev/+/up/+",
    ]
    with pytest.raises(TopicError):
        topics.hub_subscriptions("a/b")


def test_device_subscriptions_cover_own_down_and_its_lists() -> None:
    assert topics.device_subscriptions("d1", ("CN-SH-PD",)) == [
        "gridpass/v1/dev/d1/down/+",
        "gridpass/v1/dist/trustlist",
        "gridpass/v1/dist/CN-SH-PD/revocations",
    ]


@given(DEVICE_IDS, st.sampled_from(list(Stream)))
def test_up_round_trip(device: str, stream: Stream) -> None:
    assert topics.parse(topics.up(device, stream)) == Topic("up", device=device, stream=stream)


@given(DEVICE_IDS, st.sampled_from(list(Down)))
def test_down_round_trip(device: str, what: Down) -> None:
    assert topics.parse(topics.down(device, what)) == Topic("down", device=device, down=what)


@given(LIST_IDS)
def test_revocations_round_trip(list_id: str) -> None:
    assert topics.parse(topics.revocations(list_id)) == Topic("revocations", list_id=list_id)


@given(st.text(max_size=200))
def test_parse_never_raises_anything_but_topic_error(text: str) -> None:
    with contextlib.suppress(TopicError):
        topics.parse(text)
