"""The handheld's touch screen page: FastAPI app factory, served by uvicorn on 127.0.0.1 only.

Pages and calls (all local; the page needs no network, its script and style are files of this package):

- ``GET /``: the screen (last scan big and in colour, the incident form, what waits to sync);
- ``GET /api/state``: last scan, GPS state, backlog and problems, polled by the page;
- ``POST /api/photo``: a JPEG from the camera's newest frame, which the page attaches to the incident it files;
- ``POST /api/incidents``: file an incident (multipart: ``category``, ``note``, ``photos``).

Bounds and origin: request bodies are capped (``BodyLimit``: the declared length and the bytes actually read); the
``Host`` must be a loopback name (a DNS-rebinding page gets 421); a ``POST`` must come from this page (``Origin``
equal to the host; ``Sec-Fetch-Site`` same-origin when sent), so another site open in a browser on the device cannot
file or photograph anything.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.datastructures import UploadFile

from device.gps.base import Fix, GpsStatus
from device.handheld.backlog import BacklogView
from device.handheld.scans import LastScan
from device.incidents import IncidentDesk, IncidentRefusedError

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "[::1]", "::1"})
FORM_OVERHEAD_BYTES = 64 * 1024
"""Room for the form's text fields and multipart framing on top of the photos."""
MAX_FORM_FIELDS = 8
SHUTDOWN_WAIT_S = 10.0
LISTEN_BACKLOG = 64

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class PositionSource(Protocol):
    """The GPS reader (:class:`device.gps.tracker.PositionTracker`)."""

    def latest(self) -> Fix | None:
        """The newest fix, or None."""

    def status(self) -> GpsStatus:
        """State and reason."""


@dataclass
class HandheldServices:
    """Everything the page needs, built by the composition root."""

    desk: IncidentDesk
    scans: LastScan
    gps: PositionSource
    backlog: BacklogView
    labels: Mapping[str, str]
    """Category code -> button label, in the order shown."""
    problems: Callable[[], list[str]] = field(default=list)
    refused_requests: int = 0

    @property
    def max_body_bytes(self) -> int:
        """The largest request body taken."""
        limits = self.desk.limits
        return limits.photo_max_count * limits.photo_max_bytes + FORM_OVERHEAD_BYTES


def label_for(code: str, labels: Mapping[str, str]) -> str:
    """The button label of a category: the configured one, or the code in words."""
    return labels.get(code) or code.replace("_", " ").capitalize()


class BodyLimit:
    """Refuses a request whose declared or actual body is larger than ``limit`` bytes (413)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await _too_large(send)
            return
        seen = 0

        async def bounded() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise BodyTooLargeError
            return message

        try:
            await self.app(scope, bounded, send)
        except BodyTooLargeError:
            await _too_large(send)


class BodyTooLargeError(Exception):
    """A body went past the limit while being read."""


async def _too_large(send: Send) -> None:
    body = b'{"reason":"too_large","message":"the request is too large"}'
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _host_ok(host: str) -> bool:
    name = urlsplit(f"//{host}").hostname if host else None
    return name is not None and (name in LOOPBACK_NAMES or f"[{name}]" in LOOPBACK_NAMES)


def _refusal(status: int, reason: str, message: str) -> JSONResponse:
    return JSONResponse({"reason": reason, "message": message}, status_code=status)


def create_app(services: HandheldServices) -> FastAPI:
    """The page's app; nothing runs until a server serves it."""
    app = FastAPI(title="gridpass handheld", docs_url=None, redoc_url=None, openapi_url=None)
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    @app.middleware("http")
    async def same_origin(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        host = request.headers.get("host", "")
        if not _host_ok(host):
            services.refused_requests += 1
            return _refusal(421, "bad_host", "this page answers on loopback only")
        if request.method not in ("GET", "HEAD"):
            origin = request.headers.get("origin")
            site = request.headers.get("sec-fetch-site")
            if origin != f"http://{host}" or (site is not None and site != "same-origin"):
                services.refused_requests += 1
                return _refusal(403, "cross_origin", "only this terminal's own page may do that")
        response = await call_next(request)
        response.headers["Content-Security-Policy"] = (
            "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; script-src 'self'; "
            "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
        )
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Cache-Control"] = "no-store"
        return response

    @app.get("/", response_class=HTMLResponse)
    def index(request: Request) -> Response:
        limits = services.desk.limits
        categories = [(code, label_for(code, services.labels)) for code in limits.categories]
        return templates.TemplateResponse(
            request,
            "index.html",
            {"categories": categories, "limits": limits, "scan": services.scans.view()},
        )

    @app.get("/api/state")
    def state() -> dict[str, Any]:
        gps = services.gps.status()
        fix = services.gps.latest()
        problems = list(services.problems())
        if services.desk.last_problem:
            problems.append(services.desk.last_problem)
        return {
            "scan": services.scans.view().as_dict(),
            "gps": {
                **gps.as_dict(),
                "fix": None if fix is None else {"lat": fix.lat, "lon": fix.lon, "accuracy_m": fix.accuracy_m},
            },
            "backlog": services.backlog.summary(),
            "problems": problems,
        }

    @app.post("/api/photo")
    def photo() -> Response:
        try:
            data = services.desk.capture()
        except IncidentRefusedError as exc:
            return _refusal(409, exc.reason, str(exc))
        return Response(data, media_type="image/jpeg")

    @app.post("/api/incidents")
    async def file_incident(request: Request) -> Response:
        read = await _read_form(request, services)
        if isinstance(read, Response):
            return read
        category, note, photos = read
        try:
            filed = await _in_thread(lambda: services.desk.file(category, note, photos))
        except IncidentRefusedError as exc:
            status = 507 if exc.reason.startswith("storage") else 422
            return _refusal(status, exc.reason, str(exc))
        position = filed.position
        return JSONResponse(
            {
                "seq": filed.seq,
                "category": filed.category,
                "label": label_for(filed.category, services.labels),
                "grid_cell": filed.grid_cell,
                "position": None
                if position is None
                else {"lat": position.lat, "lon": position.lon, "accuracy_m": position.accuracy_m},
                "photos": filed.photos,
                "time_source": filed.time_source,
            },
            status_code=201,
        )

    return app


async def _read_form(request: Request, services: HandheldServices) -> tuple[str, str, list[bytes]] | Response:
    """Category, note and photo bytes of the incident form, or the refusal to send."""
    limits = services.desk.limits
    try:
        form = await request.form(
            max_files=limits.photo_max_count, max_fields=MAX_FORM_FIELDS, max_part_size=FORM_OVERHEAD_BYTES
        )
    except BodyTooLargeError:
        raise
    except Exception as exc:  # noqa: BLE001 - the multipart parser's errors are many types; all are bad input
        return _refusal(400, "bad_form", f"the form could not be read: {type(exc).__name__}")
    try:
        category, note = form.get("category"), form.get("note", "")
        if not isinstance(category, str) or not isinstance(note, str):
            return _refusal(422, "bad_form", "category and note must be text")
        photos: list[bytes] = []
        for item in form.getlist("photos"):
            if not isinstance(item, UploadFile):
                return _refusal(422, "bad_form", "photos must be files")
            data = await item.read(limits.photo_max_bytes + 1)
            await item.close()
            if len(data) > limits.photo_max_bytes:
                services.desk.refused["photo_too_large"] += 1
                return _refusal(
                    413,
                    "photo_too_large",
                    f"a photo is larger than {limits.photo_max_bytes // 1024} KiB: take it smaller",
                )
            if data:
                photos.append(data)
    finally:
        await form.close()
    return category, note, photos


async def _in_thread(work: Callable[[], Any]) -> Any:  # noqa: ANN401 - the caller knows the type
    """Blocking store work off the event loop."""
    from starlette.concurrency import run_in_threadpool  # noqa: PLC0415

    return await run_in_threadpool(work)


class HandheldServer:
    """Serves the app on 127.0.0.1:``port`` (0: any free port) in a thread of its own until stopped."""

    def __init__(self, services: HandheldServices, port: int) -> None:
        app = BodyLimit(create_app(services), services.max_body_bytes)
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", port))
        self._sock.listen(LISTEN_BACKLOG)  # connections queue from now on, before uvicorn starts accepting
        self.port: int = self._sock.getsockname()[1]
        config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False, timeout_graceful_shutdown=2)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._serve, name="handheld-web", daemon=True)

    @property
    def url(self) -> str:
        """Where the kiosk browser points."""
        return f"http://127.0.0.1:{self.port}/"

    def _serve(self) -> None:
        try:
            self._server.run(sockets=[self._sock])
        except Exception:  # top of the thread: logged; the terminal keeps scanning without its screen
            log.exception("the handheld page stopped")

    def start(self) -> None:
        """Start serving."""
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and join the thread."""
        self._server.should_exit = True
        if self._thread.ident is not None:  # started
            self._thread.join(SHUTDOWN_WAIT_S)
        self._sock.close()

    def run(self, stop: threading.Event) -> None:
        """Serve until ``stop`` is set (the terminal's thread body)."""
        self.start()
        try:
            stop.wait()
        finally:
            self.stop()
