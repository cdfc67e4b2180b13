"""Parts of the relay tests: a hub with enrolled terminals whose signed batches are stored, a fake clock, the
list-accept path without a broker, and a misbehaving front for the district center."""

from __future__ import annotations

import http.server
import socketserver
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
from cryptography.hazmat.primitives.asymmetric import ed25519
from sqlalchemy.engine import Engine

from hub.storage.devices import enrol
from hub.storage.ingest import StoreResult, store_batch
from hub.storage.lists import store_revocation_update, store_trust_list
from protocol.documents import DocumentError
from protocol.envelope import open_batch
from protocol.keys import PublicKey, spki_der
from protocol.records import parse_scan_record
from protocol.revocation import parse_revocation_update
from protocol.topics import Stream
from protocol.trustlist import parse_trust_list
from tests.district.server.support import T0, signed_batch
from tests.services.mosquitto import HOST, free_port

HANG_RELEASE_S = 10.0
"""A hanging answer is released after this long at most (or when the front stops)."""


@dataclass
class FakeClock:
    """Simulated time: moves only when the test moves it."""

    now: float = T0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Terminal:
    """An enrolled terminal that reports through the hub: each report is stored as the ingest stores it."""

    engine: Engine
    device_id: str
    key: ed25519.Ed25519PrivateKey = field(default_factory=ed25519.Ed25519PrivateKey.generate)
    next_seq: int = 1

    def enrol(self, now: float) -> Terminal:
        enrol(self.engine, self.device_id, spki_der(self.key.public_key()), profile="scanner", now=now)
        return self

    def report(self, count: int, now: float, decision: str = "pass") -> StoreResult:
        """Sign a batch of ``count`` new scan events and store it at the hub (verified, as the ingest does)."""
        seqs = list(range(self.next_seq, self.next_seq + count))
        self.next_seq += count
        data = signed_batch(self.key, self.device_id, *seqs, decision=decision)
        batch = open_batch(data, self.key.public_key(), device=self.device_id, stream=Stream.EVENTS)
        records = [(r.seq, parse_scan_record(r.fields)) for r in batch.records]
        return store_batch(self.engine, self.device_id, Stream.EVENTS, data, records, now=now)


def accept_into(engine: Engine, root_key: PublicKey, now: Callable[[], float]) -> Callable[[bytes], str]:
    """The worker's list path up to the broker: verify under the root key, then store (what devices are sent)."""

    def accept(document: bytes) -> str:
        try:
            update = parse_revocation_update(document, root_key)
        except DocumentError:
            trust = parse_trust_list(document, root_key)
            store_trust_list(engine, document, seq=trust.seq, ts=trust.ts, now=now())
            return f"trust list {trust.seq}"
        store_revocation_update(engine, document, update, now=now())
        return f"revocation list {update.list_id} version {update.seq}"

    return accept


class Front:
    """An HTTP server in front of the district center that misbehaves on demand.

    Modes: ``pass`` forwards; ``500`` answers 500 without forwarding; ``hang`` forwards, then never answers (the
    district stored it, the hub never hears); ``garbage`` forwards, then answers bytes that are not HTTP;
    ``junk_200`` forwards, then answers 200 with a body that is not JSON; ``close`` drops the connection unread.
    """

    def __init__(self, upstream: str | None) -> None:
        self.upstream = upstream
        self.mode = "pass"
        self.body_500 = b'{"reason": "internal"}'
        self.requests = 0
        self.release = threading.Event()
        front = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
                """Quiet."""

            def _any(self) -> None:
                front.requests += 1
                mode = front.mode
                if mode == "close":
                    self.close_connection = True
                    return
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                if mode == "500":
                    self._answer(500, front.body_500)
                    return
                assert front.upstream is not None
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
                answer = httpx.request(self.command, front.upstream + self.path, content=body, headers=headers)
                if mode == "hang":
                    front.release.wait(HANG_RELEASE_S)
                    self.close_connection = True
                elif mode == "garbage":
                    self.wfile.write(b"\x00\xffthis is not http\r\n\r\n")
                    self.close_connection = True
                elif mode == "junk_200":
                    self._answer(200, b"<html>ok</html>")
                else:
                    self._answer(answer.status_code, answer.content, answer.headers.get("content-type"))

            def _answer(self, status: int, body: bytes, content_type: str | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type or "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = _any  # noqa: N815 - http.server's names

        self.port = free_port()
        self.server = socketserver.ThreadingTCPServer((HOST, self.port), Handler, bind_and_activate=True)
        self.server.daemon_threads = False
        self.server.block_on_close = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05})

    @property
    def url(self) -> str:
        """Where the hub is pointed."""
        return f"http://{HOST}:{self.port}"

    def __enter__(self) -> Front:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(HANG_RELEASE_S)


def wait_until(condition: Callable[[], bool], what: str, timeout_s: float = 30.0) -> None:
    """Poll a condition (bounded)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached within {timeout_s} s: {what}")
        time.sleep(0.02)
