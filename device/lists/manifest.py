"""The manifest of a revocation store: which files make up the version held. Replacing it is the commit point.

``manifest.json``::

    {"format": 1, "list": "CN-SH-PD", "seq": 12, "ts": 1700000000, "gen": 5,
     "base": {"file": "base-10-0a1b2c3d.rids", "seq": 10, "ts": ..., "count": 1000000},
     "segments": [{"file": "seg-11-....rids", "seq": 11, "base": 10, "ts": ..., "adds": 10, "dels": 2}, ...]}

The version held is the base, then each segment's update in order; ``seq`` and ``ts`` are the last one's.
``gen`` counts commits, so a writer can tell that another process committed since it last read the manifest.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from device.lists.files import read_bounded
from protocol.revocation import MAX_LIST_ID_CHARS, MAX_REVOCATION_ENTRIES

MANIFEST_NAME = "manifest.json"
MAX_MANIFEST_BYTES = 1 << 20
MAX_SEGMENTS = 1024
"""More than the store ever writes (it merges far earlier); a manifest listing more is refused as damaged."""
DATA_FILE = re.compile(r"(base|seg)-[0-9]{1,19}-[0-9a-f]{8}\.rids")
"""Names of the data files a store writes (a manifest naming anything else, a path included, is refused)."""
_FORMAT = 1
_MAX_INT = 2**63


class ManifestError(ValueError):
    """The manifest is not one a store wrote."""


@dataclass(frozen=True, slots=True)
class BaseRef:
    """The base file: the whole list as of ``seq``."""

    file: str
    seq: int
    ts: int
    count: int


@dataclass(frozen=True, slots=True)
class SegmentRef:
    """One applied delta, from ``base`` to ``seq``, with its add and del counts."""

    file: str
    seq: int
    base: int
    ts: int
    adds: int
    dels: int


@dataclass(frozen=True, slots=True)
class Manifest:
    """One committed version of the store."""

    list_id: str
    gen: int
    base: BaseRef
    segments: tuple[SegmentRef, ...] = ()

    @property
    def seq(self) -> int:
        """The version held."""
        return self.segments[-1].seq if self.segments else self.base.seq

    @property
    def ts(self) -> int:
        """Issue time of the version held."""
        return self.segments[-1].ts if self.segments else self.base.ts

    @property
    def files(self) -> tuple[str, ...]:
        """Every data file this version needs."""
        return (self.base.file, *(s.file for s in self.segments))

    def to_bytes(self) -> bytes:
        """The JSON document."""
        body = {
            "format": _FORMAT,
            "list": self.list_id,
            "seq": self.seq,
            "ts": self.ts,
            "gen": self.gen,
            "base": {"file": self.base.file, "seq": self.base.seq, "ts": self.base.ts, "count": self.base.count},
            "segments": [
                {"file": s.file, "seq": s.seq, "base": s.base, "ts": s.ts, "adds": s.adds, "dels": s.dels}
                for s in self.segments
            ],
        }
        return json.dumps(body, separators=(",", ":")).encode()


def _obj(value: object, keys: set[str], what: str) -> dict[str, Any]:
    if not isinstance(value, dict) or set(value) != keys:
        raise ManifestError(f"{what} must be an object with exactly the keys {sorted(keys)}")
    return value


def _int(body: dict[str, Any], key: str, *, limit: int = _MAX_INT) -> int:
    value = body[key]
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < limit:
        raise ManifestError(f"{key!r} must be an integer from 0 below {limit}")
    return value


def _file(body: dict[str, Any]) -> str:
    name = body["file"]
    if not isinstance(name, str) or not DATA_FILE.fullmatch(name):
        raise ManifestError(f"file name {name!r} is not one a store writes")
    return name


def parse_manifest(data: bytes) -> Manifest:
    """Check and load a manifest document."""
    try:
        doc = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ManifestError("not JSON") from exc
    body = _obj(doc, {"format", "list", "seq", "ts", "gen", "base", "segments"}, "the manifest")
    if _int(body, "format") != _FORMAT:
        raise ManifestError(f"format {body['format']} is not {_FORMAT}")
    list_id = body["list"]
    if not isinstance(list_id, str) or not 0 < len(list_id) <= MAX_LIST_ID_CHARS:
        raise ManifestError("'list' must be a list id of 1 to 64 characters")
    raw_base = _obj(body["base"], {"file", "seq", "ts", "count"}, "'base'")
    base = BaseRef(
        _file(raw_base),
        _int(raw_base, "seq"),
        _int(raw_base, "ts"),
        _int(raw_base, "count", limit=MAX_REVOCATION_ENTRIES + 1),
    )
    raw_segments = body["segments"]
    if not isinstance(raw_segments, list) or len(raw_segments) > MAX_SEGMENTS:
        raise ManifestError(f"'segments' must be a list of at most {MAX_SEGMENTS}")
    segments: list[SegmentRef] = []
    held = base.seq
    for raw in raw_segments:
        seg = _obj(raw, {"file", "seq", "base", "ts", "adds", "dels"}, "a segment")
        limit = MAX_REVOCATION_ENTRIES + 1
        ref = SegmentRef(
            _file(seg), _int(seg, "seq"), _int(seg, "base"), _int(seg, "ts"), _int(seg, "adds", limit=limit),
            _int(seg, "dels", limit=limit),
        )  # fmt: skip
        if ref.base != held or ref.seq <= ref.base:
            raise ManifestError(f"segment {ref.file} does not continue version {held}")
        segments.append(ref)
        held = ref.seq
    manifest = Manifest(list_id, _int(body, "gen"), base, tuple(segments))
    if (manifest.seq, manifest.ts) != (_int(body, "seq"), _int(body, "ts")):
        raise ManifestError("'seq'/'ts' differ from the last update listed")
    if len(set(manifest.files)) != len(manifest.files):
        raise ManifestError("a file is listed twice")
    return manifest


def read_manifest(directory: Path) -> Manifest | None:
    """The committed manifest, or None when the directory holds none (``ManifestError`` when it is damaged)."""
    try:
        data = read_bounded(directory / MANIFEST_NAME, MAX_MANIFEST_BYTES)
    except FileNotFoundError:
        return None
    except ValueError as exc:
        raise ManifestError(str(exc)) from exc
    return parse_manifest(data)
