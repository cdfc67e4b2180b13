"""Incident and snapshot record fields: strict both ways, bounded, no personal data; hypothesis round trips."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.records import (
    MAX_IMAGE_BYTES,
    MAX_NOTE,
    MAX_PHOTOS,
    ImageRef,
    IncidentRecord,
    RecordError,
    SnapshotRecord,
    parse_incident_record,
    parse_snapshot_record,
)

SHA = "ab" * 32
PHOTO = ImageRef(SHA, 1234, "image/jpeg")
INCIDENT = IncidentRecord(boot="cd" * 16, at=1.8e9, time_source="hub", category="blocked_exit", note="door chained",
                          lat=30.25, lon=120.16, accuracy_m=4.0, grid_cell="HZ-0412", photos=(PHOTO,))  # fmt: skip
SNAPSHOT = SnapshotRecord(boot="cd" * 16, at=1.8e9, time_source="ntp", camera="gate-1", trigger="motion",
                          image=ImageRef(SHA, 200_000, "image/jpeg", 1280, 720))  # fmt: skip


def test_round_trips() -> None:
    assert parse_incident_record(INCIDENT.fields()) == INCIDENT
    assert parse_snapshot_record(SNAPSHOT.fields()) == SNAPSHOT
    bare = IncidentRecord(boot="00" * 16, at=1.0, time_source="untrusted", category="other", note="")
    assert set(bare.fields()) == {"boot", "at", "time_source", "category", "note"}
    assert parse_incident_record(bare.fields()) == bare


def _with(fields: dict[str, Any], path: tuple[str, ...], value: object) -> dict[str, Any]:
    out = dict(fields)
    if len(path) == 1:
        out[path[0]] = value
    elif path[0] == "photos":
        out["photos"] = [{**out["photos"][0], path[1]: value}]
    else:
        out[path[0]] = {**out[path[0]], path[1]: value}
    return out


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("category",), ""),
        (("category",), "x" * 65),
        (("note",), "x" * (MAX_NOTE + 1)),
        (("note",), None),
        (("position", "lat"), 91.0),
        (("position", "lon"), float("nan")),
        (("position", "accuracy_m"), -1.0),
        (("position", "alt"), 3.0),
        (("photos", "sha256"), "AB" * 32),
        (("photos", "size"), 0),
        (("photos", "size"), MAX_IMAGE_BYTES + 1),
        (("photos", "size"), True),
        (("photos", "content_type"), "image/gif"),
        (("photos",), [PHOTO.fields()] * 2),  # the same photo twice
        (("photos",), [ImageRef(f"{i:064x}", 1, "image/png").fields() for i in range(MAX_PHOTOS + 1)]),
        (("name",), "Li Wei"),  # no personal data field exists
        (("holder",), "hid"),
        (("time_source",), "gps"),
        (("grid_cell",), "x" * 65),
    ],
)
def test_bad_incident_fields_are_refused(path: tuple[str, ...], value: object) -> None:
    with pytest.raises(RecordError):
        parse_incident_record(_with(INCIDENT.fields(), path, value))


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("trigger",), "whim"),
        (("camera",), ""),
        (("image", "width"), 0),
        (("image", "height"), None),
        (("image", "sha256"), "ab" * 31),
        (("image", "exif"), {}),
        (("image",), "ab" * 32),
        (("face",), "yes"),
    ],
)
def test_bad_snapshot_fields_are_refused(path: tuple[str, ...], value: object) -> None:
    with pytest.raises(RecordError):
        parse_snapshot_record(_with(SNAPSHOT.fields(), path, value))


SHAS = st.text("0123456789abcdef", min_size=64, max_size=64)
TEXT = st.text(min_size=1, max_size=64)
TIMES = st.floats(min_value=0, max_value=4e9, allow_nan=False)
REFS = st.builds(ImageRef, SHAS, st.integers(1, MAX_IMAGE_BYTES), st.sampled_from(["image/jpeg", "image/png"]))


@given(
    at=TIMES,
    category=TEXT,
    note=st.text(max_size=MAX_NOTE),
    position=st.none() | st.tuples(st.floats(-90, 90), st.floats(-180, 180), st.none() | st.floats(0, 1000)),
    grid=st.none() | TEXT,
    photos=st.lists(REFS, max_size=MAX_PHOTOS, unique_by=lambda r: r.sha256),
)
def test_incident_round_trip_property(  # noqa: PLR0917 - hypothesis passes the drawn values by keyword
    at: float, category: str, note: str, position: tuple[float, float, float | None] | None, grid: str | None,
    photos: list[ImageRef],
) -> None:  # fmt: skip
    lat, lon, accuracy = position or (None, None, None)
    record = IncidentRecord("ef" * 16, at, "ntp", category, note, lat, lon, accuracy, grid, tuple(photos))
    assert parse_incident_record(record.fields()) == record


@given(at=TIMES, camera=TEXT, trigger=st.sampled_from(["periodic", "motion", "command", "decision"]),
       ref=REFS, side=st.integers(1, 16384))  # fmt: skip
def test_snapshot_round_trip_property(at: float, camera: str, trigger: str, ref: ImageRef, side: int) -> None:
    record = SnapshotRecord("ef" * 16, at, "hub", camera, trigger,
                            ImageRef(ref.sha256, ref.size, ref.content_type, side, side))  # fmt: skip
    assert parse_snapshot_record(record.fields()) == record


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8) | st.binary(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=12,
)


@given(st.dictionaries(st.sampled_from(["boot", "at", "time_source", "category", "note", "position", "photos",
                                        "grid_cell", "camera", "trigger", "image", "x"]), JSONISH))  # fmt: skip
def test_fuzz_never_raises_anything_but_record_error(fields: dict[str, Any]) -> None:
    for parse in (parse_incident_record, parse_snapshot_record):
        with contextlib.suppress(RecordError):
            parse(fields)
