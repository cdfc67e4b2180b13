"""Parts of the district center tests: a district on disk (root key, hub token, lists), signed batches, and the
center served by uvicorn on loopback in a thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from cryptography.hazmat.primitives.asymmetric import ed25519

from district.keyfiles import write_private
from district.ledger import RevocationLedger
from district.server.app import DistrictSettings, create_app
from district.server.tokens import token_hash
from protocol.envelope import Batch, Record, seal_batch
from protocol.keys import Alg, PrivateKey, generate_private_key, public_key_pem, spki_der
from protocol.records import ScanRecord
from protocol.topics import Stream
from protocol.trustlist import build_trust_list
from tests.services.mosquitto import HOST, free_port

HUB = "hub-a"
TOKEN = "token-of-hub-a"
OTHER_HUB = "hub-b"
OTHER_TOKEN = "token-of-hub-b"
LIST_ID = "CN-SH-PD"
T0 = 1_800_000_000.0
START_WAIT_S = 20.0
POLL_S = 0.02


@dataclass
class District:
    """A district's files: root key pair, tokens file, trust list, revocation ledger, data directory."""

    directory: Path
    root: ed25519.Ed25519PrivateKey

    @property
    def settings(self) -> DistrictSettings:
        """The center's settings over these files."""
        return DistrictSettings(
            data_dir=self.directory / "data",
            tokens_file=self.directory / "hubs.tokens",
            root_key=self.directory / "root.pub.pem",
            trust_list=self.directory / "trust.cose",
            ledger=self.directory / "ledger",
        )

    @property
    def root_public_file(self) -> Path:
        """The root public key (PEM)."""
        return self.directory / "root.pub.pem"

    def sign_trust_list(self, seq: int) -> bytes:
        """Write trust list ``seq`` where the center serves it from."""
        document = build_trust_list(self.root, seq=seq, ts=int(T0) + seq, issuers=[])
        (self.directory / "trust.cose").write_bytes(document)
        return document

    def revoke(self, *rids: bytes) -> bytes:
        """Publish the next version of the revocation list."""
        return RevocationLedger(self.directory / "ledger", LIST_ID).publish(self.root, ts=int(T0), add=rids).document


def make_district(directory: Path, root: PrivateKey | None = None) -> District:
    """A district (with ``root`` as its root key, default a new one) that knows the hub tokens ``TOKEN`` and
    ``OTHER_TOKEN``."""
    directory.mkdir(parents=True, exist_ok=True)
    root = root or generate_private_key(Alg.EDDSA)
    assert isinstance(root, ed25519.Ed25519PrivateKey)
    write_private(directory / "root.key.pem", root)
    (directory / "root.pub.pem").write_bytes(public_key_pem(root.public_key()))
    (directory / "hubs.tokens").write_text(f"{HUB} {token_hash(TOKEN)}\n{OTHER_HUB} {token_hash(OTHER_TOKEN)}\n")
    return District(directory, root)


def device_key() -> ed25519.Ed25519PrivateKey:
    """A fresh device key."""
    return ed25519.Ed25519PrivateKey.generate()


def spki(key: ed25519.Ed25519PrivateKey) -> bytes:
    """A device key's public half as SPKI DER."""
    return spki_der(key.public_key())


def scan(seq: int, decision: str = "pass", reason: str = "ok") -> ScanRecord:
    """A scan record."""
    return ScanRecord(boot="ab" * 16, at=T0 + seq, time_source="ntp", decision=decision, reason=reason)


def signed_batch(key: ed25519.Ed25519PrivateKey, device: str, *seqs: int, decision: str = "pass") -> bytes:
    """A batch of scan events signed by ``key``."""
    reason = {"pass": "ok", "deny": "revoked", "check": "lists_stale"}[decision]
    records = tuple(Record(seq, scan(seq, decision, reason).fields()) for seq in seqs)
    return seal_batch(Batch(device, Stream.EVENTS, b"\x01" * 16, records), key)


@contextmanager
def serving(settings: DistrictSettings, port: int | None = None) -> Iterator[str]:
    """The center served on loopback (a free port unless given); yields its base URL; stopped at exit."""
    app = create_app(settings)
    port = port or free_port()
    server = uvicorn.Server(uvicorn.Config(app, host=HOST, port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, name="district-center", daemon=True)
    thread.start()
    deadline = time.monotonic() + START_WAIT_S
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            thread.join(START_WAIT_S)
            raise RuntimeError("the district center did not start")
        time.sleep(POLL_S)
    try:
        yield f"http://{HOST}:{port}"
    finally:
        server.should_exit = True
        thread.join(START_WAIT_S)
