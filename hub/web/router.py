"""The dashboard's routes in one router: ``create_app`` includes ``dashboard_router()`` (one line)."""

from __future__ import annotations

import time

from fastapi import APIRouter
from fastapi.responses import RedirectResponse, Response, StreamingResponse
from sqlalchemy.engine import Engine

from hub.api.deps import ContextDep
from hub.web import auth, live, media, pages
from hub.web.session import SECURITY_HEADERS, PagePrincipal
from hub.web.templating import STATIC_FILES, static_file, static_version

STATIC_CACHE_S = 365 * 86400
"""Static URLs carry their content's digest (``?v=``), so a browser may keep them."""


def dashboard_router(live_settings: live.LiveSettings | None = None) -> APIRouter:
    """Every dashboard route under ``/web``; ``live_settings``: timing of the live updates (tests shorten it)."""
    settings = live_settings or live.LiveSettings()
    router = APIRouter(include_in_schema=False)
    router.include_router(auth.router)
    router.include_router(pages.router)
    router.include_router(media.router)
    caches: dict[int, tuple[Engine, live.SnapshotCache]] = {}

    @router.get("/web")
    def web_root() -> RedirectResponse:
        return RedirectResponse("/web/", status_code=307)

    @router.get("/web/static/{name}")
    def static(name: str, v: str = "") -> Response:
        """A vendored static file (only those listed in ``STATIC_FILES``)."""
        if name not in STATIC_FILES:
            return Response("not found", status_code=404, media_type="text/plain")
        cache = f"public, max-age={STATIC_CACHE_S}, immutable" if v == static_version(name) else "no-cache"
        headers = {"Cache-Control": cache, "X-Content-Type-Options": "nosniff"}
        return Response(static_file(name), media_type=STATIC_FILES[name], headers=headers)

    @router.get("/web/events")
    async def events(principal: PagePrincipal, context: ContextDep) -> Response:
        """Server-sent events: the live counts and presence (see ``hub.web.live``)."""
        if principal is None:
            return Response("log in first", status_code=401, media_type="text/plain")
        engine, clock = context.services.engine, context.services.clock
        held = caches.get(id(engine))
        if held is None or held[0] is not engine:
            held = caches[id(engine)] = (
                engine,
                live.SnapshotCache(
                    lambda: live.take_snapshot(engine, clock()), time.monotonic, settings.interval_s / 2
                ),
            )
        cache = held[1]
        headers = {**SECURITY_HEADERS, "X-Accel-Buffering": "no"}
        return StreamingResponse(
            live.stream(cache.get, settings, monotonic=time.monotonic), media_type="text/event-stream", headers=headers
        )

    return router
