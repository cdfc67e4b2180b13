"""Helpers of the hub storage tests: an enrolled device, scan records, stand-in batch bytes."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric import ed25519
from sqlalchemy.engine import Engine

from hub.storage import devices
from protocol.keys import spki_der
from protocol.records import ScanRecord

T0 = 1_800_000_000.0
DEVICE = "scanner-01"


def public_key() -> bytes:
    """A fresh Ed25519 device key, as SPKI DER."""
    return spki_der(ed25519.Ed25519PrivateKey.generate().public_key())


def enrol(engine: Engine, device_id: str = DEVICE) -> str:
    """Enrol ``device_id`` (pre-authorised) and return it."""
    devices.enrol(engine, device_id, public_key(), profile="scanner", now=T0)
    return device_id


def scan(at: float = T0, decision: str = "pass", reason: str = "ok") -> ScanRecord:
    """A scan record as a terminal sends it."""
    return ScanRecord(boot="ab" * 16, at=at, time_source="ntp", decision=decision, reason=reason, kind="GP1",
                      iss="CN-ZJ-HZ", status="green", rid="cd" * 16, latency_ms=12.5)  # fmt: skip


def records(*seqs: int, at: float = T0) -> list[tuple[int, ScanRecord]]:
    """Records with these seqs (each ``at`` one second after the previous)."""
    return [(seq, scan(at=at + seq)) for seq in seqs]


def cose(*seqs: int, tag: str = "") -> bytes:
    """Stand-in batch bytes, unique per seq list (storage keeps them; it does not verify them)."""
    return f"batch:{tag}:{','.join(map(str, seqs))}".encode()
