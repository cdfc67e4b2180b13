"""The hub's HTTP client to the district center: bounded, timed, authenticated; every answer classified.

TLS with the district's CA pinned (``ca_file``: only that CA is trusted), the hub's identity as a bearer token and,
optionally, a client certificate (mTLS). Each call has a connect timeout, a read timeout between bytes and a total
deadline; a response body past its bound is cut off and treated as garbage. Nothing here retries: the relay
service decides what happens next from the :class:`Reply`.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import httpx

from protocol.revocation import MAX_REVOCATION_DOCUMENT_BYTES
from protocol.topics import LIST_ID, Stream, check_device_id, check_list_id
from protocol.trustlist import MAX_TRUST_LIST_BYTES

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 15.0
TOTAL_TIMEOUT_S = 30.0
"""The longest one call may take, however slowly the district trickles its answer."""
LIST_TOTAL_TIMEOUT_S = 600.0
"""A revocation snapshot can be 160 MB: list downloads get longer."""
MAX_JSON_RESPONSE_BYTES = 64 * 1024
MAX_INDEX_LISTS = 1000
_REASON = re.compile(r"[a-z0-9_]{1,32}")
COSE_TYPE = "application/cose"


class DistrictError(Exception):
    """A call to the district failed or its answer was unusable; ``reason`` is a counter name."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class Outcome(StrEnum):
    """What to do with what was sent."""

    DONE = "done"
    """Stored (or known) at the district."""
    RETRY = "retry"
    """Down, slow, overloaded, confused or unreachable: send again later, nothing is lost."""
    UNREGISTERED = "unregistered"
    """The district does not know the device: register it, then send again."""
    PARK = "park"
    """Refused for good (a 4xx): keep it aside for an operator."""


@dataclass(frozen=True, slots=True)
class Reply:
    """The classified answer to one call."""

    outcome: Outcome
    reason: str
    status: int | None = None
    detail: str = ""
    body: Any = None
    """The parsed JSON of a successful answer."""


@dataclass(frozen=True, slots=True)
class ClientSettings:
    """Where the district is and how the hub proves who it is."""

    url: str
    token: str
    ca_file: Path | None = None
    client_cert: Path | None = None
    client_key: Path | None = None
    connect_timeout_s: float = CONNECT_TIMEOUT_S
    read_timeout_s: float = READ_TIMEOUT_S
    total_timeout_s: float = TOTAL_TIMEOUT_S


def _problem_reason(body: bytes) -> str | None:
    try:
        problem = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return None
    reason = problem.get("reason") if isinstance(problem, dict) else None
    return reason if isinstance(reason, str) and _REASON.fullmatch(reason) else None


def classify(status: int, body: bytes) -> Reply:
    """A write call's answer: 2xx with a JSON object is done; 404 ``unknown_device`` asks for a registration;
    401, 408, 425, 429 and 5xx are retried (a wrong token is fixed by an operator, not by dropping data); any other
    4xx is refused for good; anything else (3xx, a 2xx that is not JSON) is retried."""
    reason = _problem_reason(body)
    if 200 <= status < 300:
        try:
            parsed = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
            return Reply(Outcome.RETRY, "bad_response", status, "a 2xx whose body is not JSON")
        if not isinstance(parsed, dict):
            return Reply(Outcome.RETRY, "bad_response", status, "a 2xx whose body is not a JSON object")
        return Reply(Outcome.DONE, "ok", status, body=parsed)
    if status == 404 and reason == "unknown_device":
        return Reply(Outcome.UNREGISTERED, reason, status)
    if status in (401, 408, 425, 429) or status >= 500 or not 400 <= status < 500:
        return Reply(Outcome.RETRY, reason or f"http_{status}", status)
    return Reply(Outcome.PARK, reason or f"http_{status}", status)


def _ssl_context(settings: ClientSettings) -> ssl.SSLContext:
    try:
        context = ssl.create_default_context(cafile=str(settings.ca_file) if settings.ca_file else None)
        if settings.client_cert is not None:
            key = str(settings.client_key) if settings.client_key else None
            context.load_cert_chain(str(settings.client_cert), key)
    except (OSError, ssl.SSLError) as exc:
        raise DistrictError("bad_tls", f"cannot load the district CA or the hub's client certificate: {exc}") from exc
    return context


class DistrictClient:
    """Calls to one district center."""

    def __init__(
        self,
        settings: ClientSettings,
        *,
        transport: httpx.BaseTransport | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if not settings.url.startswith(("https://", "http://")):
            raise DistrictError("bad_url", "the district url is http(s)://host[:port][/prefix]")
        self.settings = settings
        self.monotonic = monotonic
        verify: ssl.SSLContext | bool = _ssl_context(settings) if settings.url.startswith("https://") else True
        self._http = httpx.Client(
            base_url=settings.url.rstrip("/"),
            verify=verify,
            transport=transport,
            timeout=httpx.Timeout(
                connect=settings.connect_timeout_s,
                read=settings.read_timeout_s,
                write=settings.read_timeout_s,
                pool=settings.connect_timeout_s,
            ),
            headers={"Authorization": f"Bearer {settings.token}", "User-Agent": "gridpass-hub"},
            follow_redirects=False,
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def _call(
        self,
        method: str,
        path: str,
        *,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
        params: dict[str, int] | None = None,
        max_bytes: int = MAX_JSON_RESPONSE_BYTES,
        total_s: float | None = None,
    ) -> tuple[int, bytes]:
        """(status, body); transport failures, timeouts and oversize bodies are :class:`DistrictError`."""
        deadline = self.monotonic() + (total_s or self.settings.total_timeout_s)
        try:
            with self._http.stream(method, path, content=content, headers=headers, params=params) as response:
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > max_bytes:
                    raise DistrictError("too_large", f"{method} {path}: answer of {declared} bytes")
                body = bytearray()
                for chunk in response.iter_raw():
                    body += chunk
                    if len(body) > max_bytes:
                        raise DistrictError("too_large", f"{method} {path}: answer over {max_bytes} bytes")
                    if self.monotonic() > deadline:
                        raise DistrictError("timeout", f"{method} {path}: answer took too long")
                return response.status_code, bytes(body)
        except httpx.TimeoutException as exc:
            raise DistrictError("timeout", f"{method} {path}: {type(exc).__name__}") from exc
        except httpx.TransportError as exc:
            raise DistrictError("unreachable", f"{method} {path}: {type(exc).__name__}") from exc
        except httpx.HTTPError as exc:  # a malformed answer (bad status line, bad chunking, ...)
            raise DistrictError("bad_response", f"{method} {path}: {type(exc).__name__}") from exc

    def _write(self, method: str, path: str, **kwargs: Any) -> Reply:  # noqa: ANN401
        try:
            status, body = self._call(method, path, **kwargs)
        except DistrictError as exc:
            return Reply(Outcome.RETRY, exc.reason, None, exc.detail)
        return classify(status, body)

    def post_batch(self, device_id: str, stream: Stream, idempotency_key: str, cose: bytes) -> Reply:
        """Relay one device-signed batch."""
        path = f"/v1/devices/{check_device_id(device_id)}/batches/{Stream(stream).value}"
        reply = self._write(
            "POST",
            path,
            content=cose,
            headers={"Idempotency-Key": idempotency_key, "Content-Type": COSE_TYPE},
        )
        if reply.outcome is Outcome.DONE and not isinstance(reply.body.get("stored"), int):
            return Reply(Outcome.RETRY, "bad_response", reply.status, "no stored count in the answer")
        return reply

    def register(self, device_id: str, public_key: bytes, profile: str) -> Reply:
        """Tell the district a device's key (before its batches)."""
        body = json.dumps({"public_key": base64.b64encode(public_key).decode("ascii"), "profile": profile}).encode()
        return self._write(
            "PUT",
            f"/v1/devices/{check_device_id(device_id)}",
            content=body,
            headers={"Content-Type": "application/json"},
        )

    def decommission(self, device_id: str) -> Reply:
        """Tell the district a device was retired (after its last batch)."""
        reply = self._write("POST", f"/v1/devices/{check_device_id(device_id)}/decommission", content=b"")
        if reply.status == 404 and reply.reason in ("unknown_device", "http_404"):
            return Reply(Outcome.DONE, "unknown_device", reply.status)
        return reply

    def _json(self, path: str, params: dict[str, int] | None = None) -> dict[str, Any]:
        status, body = self._call("GET", path, params=params)
        if status != 200:
            raise DistrictError(_problem_reason(body) or f"http_{status}", f"GET {path} answered {status}")
        try:
            parsed = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
            raise DistrictError("bad_response", f"GET {path}: not JSON") from exc
        if not isinstance(parsed, dict):
            raise DistrictError("bad_response", f"GET {path}: not a JSON object")
        return parsed

    def lists(self) -> tuple[int | None, dict[str, int]]:
        """The district's current trust list seq and revocation versions."""
        index = self._json("/v1/lists")
        trust, revocations = index.get("trust"), index.get("revocations")
        if trust is not None and (not isinstance(trust, int) or isinstance(trust, bool) or trust < 1):
            raise DistrictError("bad_response", "GET /v1/lists: trust is not a version")
        if not isinstance(revocations, dict) or len(revocations) > MAX_INDEX_LISTS:
            raise DistrictError("bad_response", "GET /v1/lists: revocations is not a map of lists")
        versions = {}
        for list_id, seq in revocations.items():
            if not LIST_ID.fullmatch(list_id) or not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
                raise DistrictError("bad_response", "GET /v1/lists: a revocation entry is malformed")
            versions[list_id] = seq
        return trust, versions

    def _document(self, path: str, max_bytes: int) -> bytes:
        status, body = self._call("GET", path, max_bytes=max_bytes, total_s=LIST_TOTAL_TIMEOUT_S)
        if status != 200:
            raise DistrictError(_problem_reason(body) or f"http_{status}", f"GET {path} answered {status}")
        return body

    def trust_list(self) -> bytes:
        """The district's signed trust list (the caller verifies it)."""
        return self._document("/v1/trustlist", MAX_TRUST_LIST_BYTES)

    def revocation_chain(self, list_id: str, since: int) -> list[int]:
        """The versions of ``list_id`` a holder of ``since`` fetches, in order."""
        answer = self._json(f"/v1/revocations/{check_list_id(list_id)}/chain", {"since": since})
        chain = answer.get("chain")
        if (
            not isinstance(chain, list)
            or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in chain)
            or chain != sorted(set(chain))
        ):
            raise DistrictError("bad_response", f"chain of {list_id}: not ascending versions")
        return chain

    def revocation_update(self, list_id: str, seq: int) -> bytes:
        """One signed revocation update (the caller verifies it)."""
        return self._document(
            f"/v1/revocations/{check_list_id(list_id)}/updates/{int(seq)}", MAX_REVOCATION_DOCUMENT_BYTES
        )


def read_token(path: Path) -> str:
    """The hub's district token from its file."""
    try:
        token = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise DistrictError("no_token", f"cannot read the district token file {path}: {exc.strerror}") from exc
    if not token or len(token) > 256 or any(c.isspace() for c in token):
        raise DistrictError("no_token", f"{path} does not hold one token")
    return token
