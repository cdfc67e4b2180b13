"""Incidents from handheld terminals with their photos and grid cells, snapshots from camera terminals, and the
images themselves (only complete ones, whose SHA-256 the hub checked; served with their recorded type)."""

from __future__ import annotations

import re
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from hub.api.deps import ContextDep
from hub.storage import media
from hub.web.session import SECURITY_HEADERS, PagePrincipal, error_page, login_redirect, page

PAGE_SIZE = 24
SHA256_HEX = re.compile(r"[0-9a-f]{64}")
IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/webp"})
"""Served inline as images; anything else is sent as a download (never rendered by the browser)."""
IMAGE_CACHE_S = 86400
"""An image is named by its hash, so it never changes: the browser may keep it (privately) for a day."""
DeviceQuery = Annotated[str | None, Query(max_length=64, pattern=r"^[a-z0-9-]{1,64}$")]

router = APIRouter(prefix="/web", include_in_schema=False)


def _older(path: str, device: str | None, oldest: float | None, full: bool) -> str | None:
    if not full or oldest is None:
        return None
    query: dict[str, str] = {"before": repr(oldest)}
    if device is not None:
        query["device"] = device
    return f"{path}?{urlencode(query)}"


@router.get("/incidents", response_class=HTMLResponse)
def incidents(
    principal: PagePrincipal, context: ContextDep, request: Request, device: DeviceQuery = None,
    before: float | None = None,
) -> Response:  # fmt: skip
    """Incident reports, newest first, a page at a time."""
    if principal is None:
        return login_redirect(request)
    rows = media.list_incidents(context.services.engine, device=device, limit=PAGE_SIZE, before=before)
    older = _older("/web/incidents", device, rows[-1].at if rows else None, len(rows) == PAGE_SIZE)
    return page("incidents.html", {"section": "incidents", "incidents": rows, "device": device, "older": older},
                principal=principal, now=context.services.clock())  # fmt: skip


@router.get("/snapshots", response_class=HTMLResponse)
def snapshots(
    principal: PagePrincipal, context: ContextDep, request: Request, device: DeviceQuery = None,
    before: float | None = None,
) -> Response:  # fmt: skip
    """Snapshots with their images, newest first, a page at a time."""
    if principal is None:
        return login_redirect(request)
    rows = media.list_snapshots(context.services.engine, device=device, limit=PAGE_SIZE, before=before)
    older = _older("/web/snapshots", device, rows[-1].at if rows else None, len(rows) == PAGE_SIZE)
    return page("snapshots.html", {"section": "snapshots", "snapshots": rows, "device": device, "older": older},
                principal=principal, now=context.services.clock())  # fmt: skip


@router.get("/images/{sha256}")
def image(principal: PagePrincipal, context: ContextDep, request: Request, sha256: str) -> Response:
    """A complete image's bytes."""
    if principal is None:
        return login_redirect(request)
    now = context.services.clock()
    info = media.image_info(context.services.engine, sha256) if SHA256_HEX.fullmatch(sha256) else None
    body = None if info is None else media.get_image(context.services.engine, sha256)
    if info is None or body is None:
        return error_page(404, "No such image", "No complete image has this hash.", principal=principal, now=now)
    headers = {**SECURITY_HEADERS, "Cache-Control": f"private, max-age={IMAGE_CACHE_S}, immutable"}
    if info.content_type in IMAGE_TYPES:
        return Response(body, media_type=info.content_type, headers=headers)
    headers["Content-Disposition"] = f'attachment; filename="{sha256}.bin"'
    return Response(body, media_type="application/octet-stream", headers=headers)
