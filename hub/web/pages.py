"""The dashboard's pages: site view, devices, device page with its actions, statistics and CSV, versions and lists.

Reads go through ``hub.storage.stats`` (aggregates) and ``hub.operations`` (commands, configs); every change goes
through ``hub.operations`` (``fleet.decommission``, ``commands.send``, ``configs.push_config``), the same functions the
API and the CLI call, which check the role and write the audit row. Pages are plain ``def`` handlers: FastAPI runs
them in its threadpool, beside the event loop.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, Response

from hub.api.deps import ClientDep, ContextDep, WebContext
from hub.config_signer import ConfigSigner
from hub.operations import commands, configs, fleet
from hub.operations.auth import Principal
from hub.operations.errors import ForbiddenError, NotFoundError, OperationError
from hub.storage import stats
from hub.storage.configs import ConfigVersion
from hub.storage.stats import DECISIONS, PRESENCE_KEYS, FleetEntry
from hub.web import csvexport, svg
from hub.web.session import (
    SECURITY_HEADERS,
    Csrf,
    Flash,
    PagePrincipal,
    back_to,
    can_act,
    csrf_ok,
    error_page,
    flash_of,
    login_redirect,
    page,
)
from hub.web.statscache import HourlyStatsCache
from protocol.messages import Command

log = logging.getLogger(__name__)

ALL_SITES = "*"
"""The ``site`` query value for every site ("" is the site of devices enrolled without one)."""
HOUR_CHOICES = (6, 12, 24, 48, 72, 168)
DEFAULT_HOURS = 24
RECENT_DECISIONS = 30
RECENT_COMMANDS = 20
DASHBOARD_COMMANDS = (Command.SYNC_NOW, Command.SNAPSHOT_NOW, Command.REBOOT)
"""What the device page offers; the rest (key rotation, wipe, resend) stay with the API and CLI."""
MAX_CONFIG_CHARS = 8192
MAX_PLACE_CHARS = 64
DEVICES_PAGE = 250
"""Devices per page of the device list."""

router = APIRouter(prefix="/web", include_in_schema=False)

SiteQuery = Annotated[str, Query(max_length=MAX_PLACE_CHARS)]


_STATE_LOCK = threading.Lock()


def stats_cache(request: Request) -> HourlyStatsCache:
    """The app's cache of settled hourly counts (made on first use, one per app)."""
    with _STATE_LOCK:
        cache = getattr(request.app.state, "gridpass_hourly_cache", None)
        if not isinstance(cache, HourlyStatsCache):
            cache = HourlyStatsCache()
            request.app.state.gridpass_hourly_cache = cache
        return cache


StatsCacheDep = Annotated[HourlyStatsCache, Depends(stats_cache)]


def _site_filter(site: str) -> str | None:
    return None if site == ALL_SITES else site


@router.get("/", response_class=HTMLResponse)
def site_view(principal: PagePrincipal, context: ContextDep, request: Request) -> Response:
    """Every site as a box of grid cells with its terminals, and the decisions of the last hour."""
    if principal is None:
        return login_redirect(request)
    engine, now = context.services.engine, context.services.clock()
    entries = stats.fleet(engine, details=False)
    by_site = stats.decision_counts_by_site(engine, stats.Window.last(stats.HOUR_S, now=now))
    grouped: dict[str, list[FleetEntry]] = {}
    for entry in entries:
        grouped.setdefault(entry.site, []).append(entry)
    sites = [
        {"name": name, "entries": members, "counts": by_site.get(name, stats.DecisionCounts()),
         "svg": svg.site_map(name, members)}
        for name, members in sorted(grouped.items())
    ]  # fmt: skip
    total = stats.DecisionCounts({d: sum(c[d] for c in by_site.values()) for d in DECISIONS})
    counts = dict.fromkeys(PRESENCE_KEYS, 0)
    for entry in entries:
        counts[stats.presence_key(entry)] += 1
    return page(
        "site.html",
        {"section": "site", "sites": sites, "total": total, "presence_counts": counts, "fleet_size": len(entries),
         "legend": svg.legend()},
        principal=principal, now=now, flash=flash_of(request),
    )  # fmt: skip


@router.get("/devices", response_class=HTMLResponse)
def device_list(
    *,
    principal: PagePrincipal, context: ContextDep, request: Request, site: SiteQuery = ALL_SITES, state: str = "",
    page_no: Annotated[int, Query(alias="page", ge=1, le=10_000)] = 1,
) -> Response:  # fmt: skip
    """Devices (of one site, in one presence group), a page at a time, with state, versions and backlog."""
    if principal is None:
        return login_redirect(request)
    engine, now = context.services.engine, context.services.clock()
    chosen = _site_filter(site)
    wanted = state if state in PRESENCE_KEYS else None
    total = stats.fleet_size(engine, site=chosen, state=wanted)
    pages = max(1, -(-total // DEVICES_PAGE))
    current = min(page_no, pages)
    entries = stats.fleet(engine, site=chosen, state=wanted, limit=DEVICES_PAGE, offset=(current - 1) * DEVICES_PAGE)
    rows = [
        {"entry": entry, "key": stats.presence_key(entry), "backlog": sum((entry.backlog or {}).values())}
        for entry in entries
    ]
    query = {"site": site, "state": wanted or ""}
    return page(
        "devices.html",
        {
            "section": "devices", "rows": rows, "site": chosen, "state": wanted or "", "all_sites": stats.sites(engine),
            "total": total, "page_no": current, "pages": pages,
            "prev_url": f"/web/devices?{urlencode({**query, 'page': current - 1})}" if current > 1 else None,
            "next_url": f"/web/devices?{urlencode({**query, 'page': current + 1})}" if current < pages else None,
        },
        principal=principal, now=now, flash=flash_of(request),
    )  # fmt: skip


def _config_signer(context: WebContext) -> ConfigSigner | None:
    """The hub's config signing key, when the composition root gave the services one."""
    return context.services.config_signer


@dataclass(frozen=True, slots=True)
class ConfigForm:
    """The config editor's content, and where the newest pushed version stands."""

    current: str
    version: ConfigVersion | None
    max_chars: int = MAX_CONFIG_CHARS


def _config_form(context: WebContext, device_id: str) -> ConfigForm:
    current = configs.current_config(context.services.engine, device_id)
    settings: dict[str, Any] = {} if current is None else dict(current.settings)
    return ConfigForm(json.dumps(settings, indent=2, sort_keys=True), current)


@router.get("/devices/{device_id}", response_class=HTMLResponse)
def device_page(principal: PagePrincipal, context: ContextDep, request: Request, device_id: str) -> Response:
    """One terminal: state, versions, backlog, last hour, recent decisions (reasons only), commands."""
    if principal is None:
        return login_redirect(request)
    engine, now = context.services.engine, context.services.clock()
    entry = stats.fleet_entry(engine, device_id) if len(device_id) <= MAX_PLACE_CHARS else None
    if entry is None:
        return error_page(404, "No such device", f"No device is called {device_id!r}.", principal=principal, now=now)
    current = stats.list_versions(engine)
    trust, revocations = stats.held_lists(entry.lists)
    return page(
        "device.html",
        {
            "section": "devices",
            "entry": entry,
            "key": stats.presence_key(entry),
            "trust": trust,
            "revocations": revocations,
            "stale": stats.stale_lists(entry, current),
            "hour_counts": stats.device_decision_counts(engine, device_id, stats.Window.last(stats.HOUR_S, now=now)),
            "recent": stats.recent_decisions(engine, device_id, limit=RECENT_DECISIONS),
            "refusals": stats.device_refusals(engine, device_id),
            "commands": commands.list_commands(engine, device_id=device_id, limit=RECENT_COMMANDS),
            "can_act": can_act(principal),
            "command_names": [c.value for c in DASHBOARD_COMMANDS],
            "config_form": _config_form(context, device_id) if can_act(principal) else None,
        },
        principal=principal, now=now, flash=flash_of(request),
    )  # fmt: skip


def _refused(principal: Principal, now: float, exc: ForbiddenError | NotFoundError) -> Response:
    """A refusal that is a page of its own: not allowed (403), or no such device (404)."""
    if isinstance(exc, ForbiddenError):
        return error_page(403, "Not allowed", str(exc), principal=principal, now=now)
    return error_page(404, "Not found", str(exc), principal=principal, now=now)


def _act(principal: Principal | None, request: Request, now: float, csrf_token: str, device_id: str) -> Response | None:
    """The common checks of a device form: logged in, CSRF token; None when the action may go ahead."""
    if principal is None:
        return login_redirect(request)
    if not csrf_ok(principal, csrf_token):
        return error_page(403, "Form expired", "Reload the page and try again.", principal=principal, now=now)
    if len(device_id) > MAX_PLACE_CHARS:
        return error_page(404, "No such device", "No such device.", principal=principal, now=now)
    return None


@router.post("/devices/{device_id}/command")
def device_command(
    *, principal: PagePrincipal, context: ContextDep, request: Request, client: ClientDep, device_id: str,
    csrf_token: Csrf, command: Annotated[str, Form(max_length=32)],
) -> Response:  # fmt: skip
    """Send a command (operators): stored, audited, published through ``hub.operations.commands``."""
    now = context.services.clock()
    if (stop := _act(principal, request, now, csrf_token, device_id)) is not None:
        return stop
    assert principal is not None  # noqa: S101 - _act returned None
    path = f"/web/devices/{device_id}"
    if command not in {c.value for c in DASHBOARD_COMMANDS}:
        return back_to(path, Flash("error", f"the dashboard does not send {command!r}"))
    try:
        sent = commands.send(
            context.services.engine, principal.actor(client), device_id, Command(command), {}, now=now,
            publisher=context.services.publisher,
        )  # fmt: skip
    except (ForbiddenError, NotFoundError) as exc:
        return _refused(principal, now, exc)
    except OperationError as exc:
        return back_to(path, Flash("error", str(exc)))
    state = "sent" if sent.published else "kept (the hub is not connected to the broker)"
    return back_to(path, Flash("ok", f"{command} {state}"))


@router.post("/devices/{device_id}/decommission")
def device_decommission(
    *, principal: PagePrincipal, context: ContextDep, request: Request, client: ClientDep, device_id: str,
    csrf_token: Csrf, confirm: Annotated[str, Form(max_length=8)] = "",
) -> Response:  # fmt: skip
    """Retire a terminal (operators), through ``hub.operations.fleet.decommission``."""
    now = context.services.clock()
    if (stop := _act(principal, request, now, csrf_token, device_id)) is not None:
        return stop
    assert principal is not None  # noqa: S101 - _act returned None
    path = f"/web/devices/{device_id}"
    if confirm != "yes":
        return back_to(path, Flash("error", "tick 'I mean it' to decommission"))
    try:
        fleet.decommission(
            context.services.engine, principal.actor(client), device_id, now=now, broker=context.services.broker
        )
    except (ForbiddenError, NotFoundError) as exc:
        return _refused(principal, now, exc)
    except OperationError as exc:  # a broker that did not follow (BrokerError) included: the hub's side stands
        return back_to(path, Flash("error", str(exc)))
    return back_to(path, Flash("ok", f"{device_id} decommissioned: its key is refused from now on"))


@router.post("/devices/{device_id}/config")
def device_config(
    *, principal: PagePrincipal, context: ContextDep, request: Request, client: ClientDep, device_id: str,
    csrf_token: Csrf, settings: Annotated[str, Form(max_length=MAX_CONFIG_CHARS)],
) -> Response:  # fmt: skip
    """Push a configuration (operators): numbered, signed, kept and published by ``hub.operations.configs``."""
    now = context.services.clock()
    if (stop := _act(principal, request, now, csrf_token, device_id)) is not None:
        return stop
    assert principal is not None  # noqa: S101 - _act returned None
    path = f"/web/devices/{device_id}"
    try:
        parsed = json.loads(settings)
    except ValueError:
        return back_to(path, Flash("error", "the settings are not valid JSON"))
    if not isinstance(parsed, dict):
        return back_to(path, Flash("error", "the settings must be a JSON object"))
    try:
        result = configs.push_config(
            context.services.engine, context.services.publisher, _config_signer(context), principal.actor(client),
            device_id, settings=parsed, now=now,
        )  # fmt: skip
    except (ForbiddenError, NotFoundError) as exc:
        return _refused(principal, now, exc)
    except OperationError as exc:
        return back_to(path, Flash("error", str(exc)))
    state = "published" if result.published else "kept; published when the broker is back"
    return back_to(path, Flash("ok", f"configuration version {result.config.version} {state}"))


def _stats_window(hours: int, now: float) -> tuple[int, stats.Window]:
    chosen = hours if hours in HOUR_CHOICES else DEFAULT_HOURS
    return chosen, stats.Window.hours(chosen, now=now)


@router.get("/stats", response_class=HTMLResponse)
def statistics(
    *,
    principal: PagePrincipal, context: ContextDep, request: Request, cache: StatsCacheDep, site: SiteQuery = ALL_SITES,
    hours: int = DEFAULT_HOURS,
) -> Response:  # fmt: skip
    """Decisions per UTC hour (stacked bars) and per site, for the chosen hours and site."""
    if principal is None:
        return login_redirect(request)
    engine, now = context.services.engine, context.services.clock()
    chosen_hours, window = _stats_window(hours, now)
    chosen = _site_filter(site)
    rows = cache.hourly(engine, window, site=chosen, now=now)
    by_site: dict[str, dict[str, int]] = {}
    totals: dict[str, int] = {}
    for row in rows:
        by_site.setdefault(row.site, {})[row.decision] = by_site.get(row.site, {}).get(row.decision, 0) + row.count
        totals[row.decision] = totals.get(row.decision, 0) + row.count
    label = "all sites" if chosen is None else (chosen or "(no site)")
    chart = svg.hourly_chart(rows, svg.hours_of(window.since, window.until), title=f"Decisions per hour, {label}")
    query = {"hours": str(chosen_hours)} if chosen is None else {"hours": str(chosen_hours), "site": chosen}
    return page(
        "stats.html",
        {
            "section": "stats", "hours": chosen_hours, "hour_choices": HOUR_CHOICES, "window": window,
            "site": chosen, "site_label": label, "all_sites": stats.sites(engine), "chart": chart,
            "totals": stats.DecisionCounts(totals),
            "by_site": {name: stats.DecisionCounts(counts) for name, counts in sorted(by_site.items())},
            "csv_url": f"/web/stats.csv?{urlencode(query)}",
        },
        principal=principal, now=now,
    )  # fmt: skip


@router.get("/stats.csv")
def statistics_csv(
    *,
    principal: PagePrincipal, context: ContextDep, request: Request, cache: StatsCacheDep, site: SiteQuery = ALL_SITES,
    hours: int = DEFAULT_HOURS,
) -> Response:  # fmt: skip
    """The statistics page's figures as CSV: site, UTC hour, decision, count."""
    if principal is None:
        return login_redirect(request)
    now = context.services.clock()
    _, window = _stats_window(hours, now)
    chosen = _site_filter(site)
    body = csvexport.hourly_csv(cache.hourly(context.services.engine, window, site=chosen, now=now))
    name = csvexport.filename(window.since, window.until, chosen)
    headers = {**SECURITY_HEADERS, "Content-Disposition": f'attachment; filename="{name}"'}
    return Response(body, media_type="text/csv; charset=utf-8", headers=headers)


@router.get("/lists", response_class=HTMLResponse)
def lists_page(principal: PagePrincipal, context: ContextDep, request: Request, stale: int = 0) -> Response:
    """Which version each terminal holds, who is stale, when the district's last update came."""
    if principal is None:
        return login_redirect(request)
    engine, now = context.services.engine, context.services.clock()
    current, rows = stats.device_lists(engine)
    shown = [r for r in rows if r.stale] if stale else rows
    return page(
        "lists.html",
        {
            "section": "lists", "current": current, "rows": rows, "shown": shown, "only_stale": bool(stale),
            "stale_count": sum(1 for r in rows if r.stale), "firmware": stats.firmware_counts(engine),
            "last_update": max((v.received_at for v in current), default=None),
        },
        principal=principal, now=now,
    )  # fmt: skip
