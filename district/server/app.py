"""The reference district center as a FastAPI app: ``create_app(settings)`` builds everything, nothing at import.

Every route but ``/v1/health`` needs a hub's bearer token. Bodies are read by the routes themselves, bounded
before they are parsed; every refusal is ``application/problem+json`` with a ``reason`` and counted.

| route | does |
|---|---|
| ``PUT /v1/devices/{dev}`` | register a device's Ed25519 key for the calling hub (201 new, 200 same) |
| ``POST /v1/devices/{dev}/decommission`` | retire a device: later batches of it are refused |
| ``POST /v1/devices/{dev}/batches/{stream}`` | a device-signed batch with ``Idempotency-Key`` (201 new, 200 again) |
| ``GET /v1/lists`` | current trust list seq and revocation versions |
| ``GET /v1/trustlist`` | the signed trust list (``Gridpass-Seq`` header) |
| ``GET /v1/revocations/{list}/chain?since=N`` | the versions to fetch, in order |
| ``GET /v1/revocations/{list}/updates/{seq}`` | one signed update |
| ``GET /v1/counts`` | records per device and decision, totals, refusals |
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from cryptography.hazmat.primitives.asymmetric import ed25519
from fastapi import APIRouter, Depends, FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from district.keyfiles import KeyFileError, read_public
from district.server.bodies import MAX_JSON_BYTES, BodyError, check_idempotency_key, parse_registration
from district.server.documents import DistrictLists, ListFileError
from district.server.store import (
    DistrictStore,
    IdempotencyConflictError,
    RecordRow,
    RegistrationError,
    RegistrationProblem,
    StoreError,
    create_engine,
)
from district.server.tokens import TokenFileError, hub_of, load_tokens
from protocol.envelope import MAX_BATCH_BYTES, BatchError, open_batch
from protocol.keys import KeyFormatError, load_public_key_der
from protocol.records import RecordError, parse_scan_record
from protocol.topics import DEVICE_ID, LIST_ID, Stream

log = logging.getLogger(__name__)

COSE_TYPE = "application/cose"
PROBLEM_TYPE = "application/problem+json"
MAX_SINCE = 2**63 - 1

_STATUS = {
    "unauthorized": 401,
    "too_large": 413,
    "unknown_device": 404,
    "not_found": 404,
    "other_hub": 403,
    "decommissioned": 410,
    "key_conflict": 409,
    "idempotency_conflict": 409,
    "bad_request": 400,
    "bad_idempotency_key": 400,
    "bad_json": 400,
    "unavailable": 503,
    "list_file_damaged": 500,
}
"""HTTP status per refusal reason; the rest (batch and body problems) are 422."""


class DistrictSetupError(Exception):
    """The center cannot start; the message says what to fix."""


@dataclass(frozen=True)
class DistrictSettings:
    """What the center needs: where to keep its database, who may call it, and the lists it serves."""

    data_dir: Path
    tokens_file: Path
    root_key: Path
    """The district root public key (PEM): every list document is verified under it before it is served."""
    trust_list: Path | None = None
    ledger: Path | None = None
    """The revocation ledger directory (``gridpass district revoke --state``)."""
    clock: Callable[[], float] = field(default=time.time)


class Problem(Exception):  # noqa: N818 - an HTTP problem document, named as RFC 9457 does
    """A refusal to answer with."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


class _Hubs:
    """The hub tokens, read again whenever the file changes (adding a hub needs no restart)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.stamp: tuple[int, int] | None = None
        self.hubs: dict[str, str] = {}
        self.refresh()

    def refresh(self) -> None:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            self.stamp, self.hubs = None, {}
            return
        stamp = (stat.st_size, stat.st_mtime_ns)
        if stamp != self.stamp:
            self.hubs = load_tokens(self.path)
            self.stamp = stamp


@dataclass
class Center:
    """The running center's parts (``app.state.center``)."""

    settings: DistrictSettings
    store: DistrictStore
    lists: DistrictLists
    hubs: _Hubs
    refusals: Counter[str] = field(default_factory=Counter)

    def refuse(self, reason: str) -> None:
        self.refusals[reason] += 1
        try:
            self.store.count_refusal(reason, now=self.settings.clock())
        except StoreError as exc:
            log.warning("could not count a refusal: %s", exc)


def problem_response(reason: str, detail: str) -> JSONResponse:
    """An RFC 9457 problem document."""
    status = _STATUS.get(reason, 422)
    body = {"type": f"urn:gridpass:problem:{reason}", "title": reason.replace("_", " "), "status": status,
            "reason": reason, "detail": detail}  # fmt: skip
    return JSONResponse(body, status_code=status, media_type=PROBLEM_TYPE)


async def read_bounded(request: Request, limit: int) -> bytes:
    """The request body, refused as ``too_large`` past ``limit`` bytes (before reading it all)."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise Problem("bad_request", "Content-Length is not a number")
        if int(declared) > limit:
            raise Problem("too_large", f"at most {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise Problem("too_large", f"at most {limit} bytes")
    return bytes(body)


def _center(request: Request) -> Center:
    center: Center = request.app.state.center
    return center


def _hub(request: Request, authorization: Annotated[str | None, Header()] = None) -> str:
    center = _center(request)
    scheme, _, token = (authorization or "").partition(" ")
    try:
        center.hubs.refresh()
    except TokenFileError as exc:
        log.warning("the hub tokens file is unusable: %s", exc)
        raise Problem("unavailable", "the center's tokens file is unusable") from exc
    hub = hub_of(center.hubs.hubs, token.strip()) if scheme.lower() == "bearer" else None
    if hub is None:
        raise Problem("unauthorized", "send Authorization: Bearer <this hub's token>")
    return hub


CenterDep = Annotated[Center, Depends(_center)]
HubDep = Annotated[str, Depends(_hub)]


def _device_id(value: str) -> str:
    if not DEVICE_ID.fullmatch(value):
        raise Problem("bad_request", "a device id is 1-64 of a-z, 0-9 and '-'")
    return value


def _register(center: Center, hub: str, device_id: str, data: bytes) -> JSONResponse:
    try:
        registration = parse_registration(data)
    except BodyError as exc:
        raise Problem(exc.reason, exc.detail) from exc
    try:
        created = center.store.register(
            hub, device_id, registration.public_key, registration.profile, now=center.settings.clock()
        )
    except RegistrationError as exc:
        raise Problem(exc.problem.value, str(exc)) from exc
    return JSONResponse({"device": device_id, "registered": True}, status_code=201 if created else 200)


def _decommission(center: Center, hub: str, device_id: str) -> JSONResponse:
    try:
        changed = center.store.decommission(hub, device_id, now=center.settings.clock())
    except RegistrationError as exc:
        raise Problem(exc.problem.value, str(exc)) from exc
    return JSONResponse({"device": device_id, "decommissioned": True, "changed": changed})


def _batch(center: Center, hub: str, device_id: str, stream: Stream, *, key: str, data: bytes) -> JSONResponse:
    device = center.store.device(device_id)
    if device is None:
        raise Problem(RegistrationProblem.UNKNOWN_DEVICE.value, f"register {device_id} first")
    if device.hub != hub:
        raise Problem(RegistrationProblem.OTHER_HUB.value, f"{device_id} belongs to another hub")
    try:
        public_key = load_public_key_der(device.public_key)
    except KeyFormatError as exc:
        raise Problem("unavailable", "the registered key cannot be loaded") from exc
    assert isinstance(public_key, ed25519.Ed25519PublicKey)  # noqa: S101 - only Ed25519 keys are registered
    try:
        batch = open_batch(data, public_key, device=device_id, stream=stream)
    except BatchError as exc:
        raise Problem(exc.problem.value, exc.detail) from exc
    rows = []
    try:
        for record in batch.records:
            if stream is Stream.EVENTS:
                scan = parse_scan_record(record.fields)
                rows.append(RecordRow(record.seq, scan.decision, scan.reason, scan.at))
            else:
                rows.append(RecordRow(record.seq))
    except RecordError as exc:
        raise Problem("bad_schema", str(exc)) from exc
    if device.decommissioned_at is not None:
        # Only a batch stored before the device was retired is still answered (as a duplicate).
        if not center.store.holds(key, data):
            raise Problem(RegistrationProblem.DECOMMISSIONED.value, f"{device_id} was decommissioned")
        return JSONResponse({"stored": 0, "duplicates": len(rows), "duplicate": True})
    try:
        result = center.store.store_batch(hub, key, data, batch, rows, now=center.settings.clock())
    except IdempotencyConflictError as exc:
        raise Problem("idempotency_conflict", str(exc)) from exc
    body = {"stored": result.stored, "duplicates": result.duplicates, "duplicate": result.duplicate}
    return JSONResponse(body, status_code=200 if result.duplicate else 201)


def create_app(settings: DistrictSettings) -> FastAPI:
    """The district center, its database opened (and made) under ``settings.data_dir``."""
    try:
        root_key = read_public(settings.root_key)
        hubs = _Hubs(settings.tokens_file)
    except (KeyFileError, TokenFileError) as exc:
        raise DistrictSetupError(str(exc)) from exc
    engine = create_engine(settings.data_dir)
    center = Center(
        settings,
        DistrictStore(engine),
        DistrictLists(root_key, trust_list=settings.trust_list, ledger=settings.ledger),
        hubs,
    )
    app = FastAPI(title="gridpass district center", version="1", docs_url=None, redoc_url=None)
    app.state.center = center
    _install_handlers(app, center)
    app.include_router(router)
    return app


def _install_handlers(app: FastAPI, center: Center) -> None:
    @app.exception_handler(Problem)
    async def _problem(_request: Request, exc: Problem) -> JSONResponse:
        center.refuse(exc.reason)
        log.info("refused: %s", exc.reason)
        return problem_response(exc.reason, exc.detail)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, _exc: RequestValidationError) -> JSONResponse:
        center.refuse("bad_request")
        return problem_response("bad_request", "a path, query or header value is not valid")

    @app.exception_handler(StoreError)
    async def _store_error(_request: Request, exc: StoreError) -> JSONResponse:
        log.warning("storage problem: %s", exc)
        return problem_response("unavailable", "the district database is busy or unavailable: try again")

    @app.exception_handler(ListFileError)
    async def _list_error(_request: Request, exc: ListFileError) -> JSONResponse:
        log.warning("a list document is damaged: %s", exc)
        return problem_response("list_file_damaged", "a list document on the center does not verify")


router = APIRouter()


@router.get("/v1/health")
def health() -> dict[str, bool]:
    """Liveness, without a token."""
    return {"ok": True}


@router.put("/v1/devices/{device_id}")
async def register(request: Request, center: CenterDep, hub: HubDep, device_id: str) -> JSONResponse:
    """Register a device's key for the calling hub."""
    device_id = _device_id(device_id)
    data = await read_bounded(request, MAX_JSON_BYTES)
    return await run_in_threadpool(_register, center, hub, device_id, data)


@router.post("/v1/devices/{device_id}/decommission")
def decommission(center: CenterDep, hub: HubDep, device_id: str) -> JSONResponse:
    """Retire a device."""
    return _decommission(center, hub, _device_id(device_id))


@router.post("/v1/devices/{device_id}/batches/{stream}")
async def batch(
    request: Request,
    center: CenterDep,
    hub: HubDep,
    *,
    device_id: str,
    stream: str,
    idempotency_key: Annotated[str | None, Header()] = None,
) -> JSONResponse:
    """Store a device-signed batch once."""
    device_id = _device_id(device_id)
    if stream not in {s.value for s in Stream}:
        raise Problem("bad_request", f"stream is one of {[s.value for s in Stream]}")
    try:
        key = check_idempotency_key(idempotency_key)
    except BodyError as exc:
        raise Problem(exc.reason, exc.detail) from exc
    data = await read_bounded(request, MAX_BATCH_BYTES)
    return await run_in_threadpool(lambda: _batch(center, hub, device_id, Stream(stream), key=key, data=data))


@router.get("/v1/lists")
def lists(center: CenterDep, _hub: HubDep) -> dict[str, Any]:
    """The current trust list seq and revocation versions."""
    return {"trust": center.lists.trust_seq(), "revocations": center.lists.revocation_index()}


@router.get("/v1/trustlist")
def trustlist(center: CenterDep, _hub: HubDep) -> Response:
    """The signed trust list."""
    current = center.lists.trust_list()
    if current is None:
        raise Problem("not_found", "the district has not signed a trust list")
    return Response(current[1], media_type=COSE_TYPE, headers={"Gridpass-Seq": str(current[0])})


@router.get("/v1/revocations/{list_id}/chain")
def chain(center: CenterDep, _hub: HubDep, list_id: str, since: int = 0) -> dict[str, Any]:
    """The versions a holder of ``since`` fetches, in order."""
    if not LIST_ID.fullmatch(list_id) or not 0 <= since <= MAX_SINCE:
        raise Problem("bad_request", "a list id is 1-64 of A-Z, a-z, 0-9 and '-'; since is 0..2**63-1")
    current = center.lists.revocation_index().get(list_id)
    if current is None:
        raise Problem("not_found", f"no revocation list {list_id}")
    return {"list": list_id, "current": current, "chain": center.lists.revocation_chain(list_id, since)}


@router.get("/v1/revocations/{list_id}/updates/{seq}")
def update(center: CenterDep, _hub: HubDep, list_id: str, seq: int) -> Response:
    """One signed revocation update."""
    if not LIST_ID.fullmatch(list_id) or not 0 < seq <= MAX_SINCE:
        raise Problem("bad_request", "a list id is 1-64 of A-Z, a-z, 0-9 and '-'; seq is 1..2**63-1")
    document = center.lists.revocation_document(list_id, seq)
    if document is None:
        raise Problem("not_found", f"no version {seq} of {list_id}")
    return Response(document, media_type=COSE_TYPE, headers={"Gridpass-Seq": str(seq)})


@router.get("/v1/{stream}/seqs")
def seqs(center: CenterDep, _hub: HubDep, stream: Stream) -> dict[str, Any]:
    """The sequence numbers held per device of one stream, as inclusive ranges, and the rows stored."""
    ranges, rows = center.store.seq_ranges(stream.value)
    return {"devices": ranges, "rows": rows}


@router.get("/v1/counts")
def counts(center: CenterDep, _hub: HubDep) -> dict[str, Any]:
    """Records per device and decision, totals and refusals."""
    return center.store.counts()
