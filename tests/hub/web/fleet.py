"""A made-up but plausible hub database for the dashboard's tests, screenshots and benchmark.

Sites with grid cells, terminals in every presence state, firmware and list versions (some stale), scan events
spread over the last day, a few incidents with photos and camera snapshots. Rows are written in bulk straight into
the tables (this is test data, not what the dashboard does): 2,000 terminals and 200,000 events take seconds.
Deterministic for a seed.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric import ed25519
from sqlalchemy.engine import Engine

from hub.storage.lists import TRUST_LIST_ID
from hub.storage.models import (
    Batch,
    Device,
    Event,
    Image,
    ImageChunk,
    Incident,
    IncidentPhoto,
    ListDocument,
    Presence,
    Snapshot,
)
from protocol.keys import spki_der

NOW = 1_800_000_000.0
"""The clock the generated hub is read at (2027-01-15 08:00 UTC)."""
DAY_S = 86400.0
SITE_NAMES = (
    "Metro L2 Jing'an Temple", "Metro L1 Xujiahui", "Compound Gubei 3", "Office Lujiazui Tower", "Metro L9 Yishan Rd",
    "Hospital Ruijin East", "Compound Tianlin 7", "Metro L10 Hongqiao T2", "Market Qibao", "School Nanyang Model",
    "Metro L2 People's Sq", "Compound Caoyang 2", "Office Zhangjiang Hi-Tech", "Metro L8 Yaohua Rd",
    "Station Shanghai South", "Compound Meilong 4", "Office Hongqiao Hub", "Metro L4 Century Ave",
    "Compound Kangjian 1", "Metro L7 Longyang Rd", "Mall Xintiandi", "Metro L3 Caoxi Rd", "Compound Linyi 5",
    "Port Wusong Gate", "Airport Pudong T1",
)  # fmt: skip
DECISION_MIX = (("pass", "ok", 0.88), ("check", "lists_stale", 0.04), ("check", "status_yellow", 0.02),
                ("deny", "revoked", 0.025), ("deny", "status_red", 0.015), ("invalid", "bad_signature", 0.01),
                ("invalid", "bad_base45", 0.01))  # fmt: skip
PRESENCE_MIX = (("online", 0.86), ("offline", 0.06), ("stopped", 0.03), (None, 0.02), ("pending", 0.015),
                ("decommissioned", 0.015))  # fmt: skip
FIRMWARE = (("1.4.2", 0.7), ("1.4.1", 0.22), ("1.3.9", 0.08))
TRUST_SEQ = 12
REVOCATION_LIST = "CN-SH"
REVOCATION_SEQ = 340
BOOT = "ab" * 16


@dataclass(frozen=True, slots=True)
class FleetSize:
    """How big a hub to make."""

    terminals: int
    events: int
    seed: int = 7


def _pick(rng: random.Random, mix: tuple[tuple[Any, float], ...]) -> Any:  # noqa: ANN401 - any mix's value
    return rng.choices([v for v, _ in mix], weights=[w for _, w in mix])[0]


def _key() -> bytes:
    return spki_der(ed25519.Ed25519PrivateKey.from_private_bytes(bytes(32)).public_key())


def site_count(terminals: int) -> int:
    """About 80 terminals a site, at least 2 sites, at most the names there are."""
    return max(2, min(len(SITE_NAMES), round(terminals / 80)))


def png(seed: int, width: int = 320, height: int = 240) -> bytes:
    """A small synthetic photo (gradient and shapes), PNG."""
    rng = np.random.default_rng(seed)
    image = np.zeros((height, width, 3), dtype=np.uint8)
    image[:, :, 0] = np.linspace(40, 120, width, dtype=np.uint8)[None, :]
    image[:, :, 1] = np.linspace(60, 30, height, dtype=np.uint8)[:, None]
    for _ in range(6):
        x, y = (int(v) for v in rng.integers(0, [width, height]))
        colour = tuple(int(c) for c in rng.integers(80, 255, 3))
        cv2.circle(image, (x, y), int(rng.integers(10, 50)), colour, -1)
    ok, data = cv2.imencode(".png", image)
    assert ok
    return data.tobytes()


def populate(engine: Engine, size: FleetSize, *, now: float = NOW) -> list[str]:
    """Fill an empty, migrated hub database; the device ids, by site and cell."""
    rng = random.Random(size.seed)
    key = _key()
    sites = SITE_NAMES[: site_count(size.terminals)]
    devices: list[dict[str, Any]] = []
    presence: list[dict[str, Any]] = []
    for index in range(size.terminals):
        site = sites[index % len(sites)]
        number = index // len(sites)
        cell = f"{site.split()[0][:1]}{index % len(sites) + 1:02d}-{number % 6 + 1}"
        profile = "camera" if number % 17 == 5 else "handheld" if number % 13 == 3 else "scanner"
        device_id = f"{profile[:2]}-{index % len(sites) + 1:02d}-{number + 1:03d}"
        state = _pick(rng, PRESENCE_MIX)
        status = "decommissioned" if state == "decommissioned" else "pending" if state == "pending" else "enrolled"
        devices.append({
            "id": device_id, "public_key": key, "status": status, "profile": profile, "site": site,
            "grid_cell": cell, "created_at": now - 90 * DAY_S, "enrolled_at": None if status == "pending" else
            now - 90 * DAY_S, "decommissioned_at": now - DAY_S if status == "decommissioned" else None,
        })  # fmt: skip
        if state in ("online", "offline", "stopped") or (status == "decommissioned" and rng.random() < 0.5):
            stale = rng.random() < 0.08
            presence.append({
                "device_id": device_id, "connected": state == "online",
                "state": state if state in ("online", "offline", "stopped") else "offline",
                "boot_id": BOOT, "boot_ordinal": 1, "state_at": now - rng.uniform(60, 3 * 3600),
                "last_birth_at": now - rng.uniform(3600, 86400), "last_activity_at": now - rng.uniform(0, 900)
                if state == "online" else now - rng.uniform(3600, 3 * DAY_S),
                "data_currency_at": now - rng.uniform(0, 1800),
                "backlog": {"events": 0 if state == "online" else rng.randint(0, 4000), "incidents": 0,
                            "snapshots": 0},
                "firmware": _pick(rng, FIRMWARE),
                "lists": {"trust": TRUST_SEQ - (1 if stale else 0),
                          "revocations": {REVOCATION_LIST: REVOCATION_SEQ - (rng.randint(1, 5) if stale else 0)},
                          "current_at": now - 600},
                "clock": {"source": "ntp"}, "updated_at": now - 60,
            })  # fmt: skip
    devices.sort(key=lambda d: d["id"])
    enrolled = [d["id"] for d in devices if d["status"] != "pending"]
    with engine.begin() as conn:
        conn.execute(sa.insert(Device), devices)
        if presence:
            conn.execute(sa.insert(Presence), presence)
        conn.execute(sa.insert(ListDocument), [
            {"kind": "trust", "list_id": TRUST_LIST_ID, "seq": TRUST_SEQ - 1, "base": 0, "ts": int(now - 9 * DAY_S),
             "sha256": "1" * 64, "received_at": now - 9 * DAY_S, "document": b"t11"},
            {"kind": "trust", "list_id": TRUST_LIST_ID, "seq": TRUST_SEQ, "base": 0, "ts": int(now - 2 * DAY_S),
             "sha256": "2" * 64, "received_at": now - 2 * DAY_S, "document": b"t12"},
            {"kind": "revocation", "list_id": REVOCATION_LIST, "seq": REVOCATION_SEQ, "base": REVOCATION_SEQ - 1,
             "ts": int(now - 5400), "sha256": "3" * 64, "received_at": now - 5400, "document": b"r"},
        ])  # fmt: skip
        batch_ids = _batches(conn, enrolled, now)
        _events(conn, rng, enrolled, batch_ids, count=size.events, now=now)
        _media(conn, rng, devices, batch_ids, now)
    return [d["id"] for d in devices]


def _batches(conn: sa.Connection, device_ids: list[str], now: float) -> dict[str, int]:
    rows = [
        {"device_id": d, "stream": "events", "first_seq": 1, "last_seq": 1, "records": 1,
         "sha256": hashlib.sha256(d.encode()).hexdigest(), "received_at": now - DAY_S, "cose": b"x"}
        for d in device_ids
    ]  # fmt: skip
    if rows:
        conn.execute(sa.insert(Batch), rows)
    return {d: int(i) for d, i in conn.execute(sa.select(Batch.device_id, Batch.id))}


EVENT_CHUNK = 20_000


def _events(
    conn: sa.Connection,
    rng: random.Random,
    device_ids: list[str],
    batch_ids: dict[str, int],
    *,
    count: int,
    now: float,
) -> None:
    if not device_ids:
        return
    scanners = [d for d in device_ids if not d.startswith("ca-")] or device_ids
    # Busier in the day: more events in recent hours than a flat spread would give. Oldest first, so each
    # terminal's seqs rise with time as a terminal's do.
    ages = sorted((DAY_S * rng.random() ** 1.3 for _ in range(count)), reverse=True)
    seqs = dict.fromkeys(scanners, 0)
    rows: list[dict[str, Any]] = []
    for age in ages:
        device = rng.choice(scanners)
        seqs[device] += 1
        decision, reason = _pick(rng, tuple(((d, r), w) for d, r, w in DECISION_MIX))
        rows.append({
            "device_id": device, "stream": "events", "seq": seqs[device], "boot": BOOT, "at": now - age,
            "time_source": "ntp", "decision": decision, "reason": reason, "kind": "GP1", "iss": "CN-SH-HB",
            "status": "green", "rid": None, "latency_ms": rng.uniform(40, 180), "received_at": now - age + 2,
            "batch_id": batch_ids[device],
        })  # fmt: skip
        if len(rows) >= EVENT_CHUNK:
            conn.execute(sa.insert(Event), rows)
            rows = []
    if rows:
        conn.execute(sa.insert(Event), rows)


def _image(conn: sa.Connection, device_id: str, data: bytes, now: float) -> str:
    sha = hashlib.sha256(data).hexdigest()
    conn.execute(sa.insert(Image).values(
        device_id=device_id, sha256=sha, size=len(data), content_type="image/png", have=len(data), complete=True,
        chunks=1, restarts=0, created_at=now - 3600, completed_at=now - 3500,
    ))  # fmt: skip
    conn.execute(sa.insert(ImageChunk).values(device_id=device_id, sha256=sha, start=0, length=len(data), data=data))
    return sha


def _media(
    conn: sa.Connection, rng: random.Random, devices: list[dict[str, Any]], batch_ids: dict[str, int], now: float
) -> None:
    handhelds = [d for d in devices if d["profile"] == "handheld" and d["id"] in batch_ids][:4]
    cameras = [d for d in devices if d["profile"] == "camera" and d["id"] in batch_ids][:4]
    for n, device in enumerate(handhelds):
        sha = _image(conn, device["id"], png(100 + n), now)
        conn.execute(sa.insert(Incident).values(
            device_id=device["id"], seq=1, boot=BOOT, at=now - 1800 * (n + 1), time_source="ntp",
            category=("crowding", "equipment_fault", "pass_dispute", "other")[n % 4],
            note=("Queue past the barrier", "Gate relay clicks but stays shut", "Asked for a supervisor",
                  "Lights flicker")[n % 4],
            lat=31.2 + rng.random() / 10, lon=121.4 + rng.random() / 10, accuracy_m=8.0, grid_cell=device["grid_cell"],
            photos=1, received_at=now - 1700 * (n + 1), batch_id=batch_ids[device["id"]],
        ))  # fmt: skip
        conn.execute(sa.insert(IncidentPhoto).values(device_id=device["id"], seq=1, position=0, image_sha256=sha))
    for n, device in enumerate(cameras):
        sha = _image(conn, device["id"], png(200 + n), now)
        conn.execute(sa.insert(Snapshot).values(
            device_id=device["id"], seq=1, boot=BOOT, at=now - 900 * (n + 1), time_source="ntp", camera="cam0",
            trigger=("periodic", "motion")[n % 2], image_sha256=sha, width=320, height=240,
            received_at=now - 800 * (n + 1), batch_id=batch_ids[device["id"]],
        ))  # fmt: skip
