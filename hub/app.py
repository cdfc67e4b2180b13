"""The composition root of the hub's web side: ``create_app(settings, services)`` builds the FastAPI app.

Nothing happens at import time. The caller (``gridpass hub run``, or a test) builds the engine, the broker link and
the dynamic-security admin and passes them in ``HubServices``; ``serve`` runs the app with uvicorn in a thread of the
ingest worker's process, sharing its link.

What the app holds: the problem JSON handlers, a bound on every request body, the API routers under ``/api/v1``,
``/healthz`` (no login) and ``/metrics`` (an API token or session of any role), and the dashboard's pages under
``/web`` (``hub.web``: its login page and static files are public, every other page redirects to the login).
The OpenAPI document is served at ``/api/v1/openapi.json`` to logged-in users only and committed as
``docs/openapi.json`` (``python -m hub.api.openapi`` writes it).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence

from fastapi import APIRouter, FastAPI
from prometheus_client import CollectorRegistry
from sqlalchemy.engine import Engine

from hub.api import problems
from hub.api.deps import WebContext
from hub.api.limits import BodyLimitMiddleware
from hub.api.metrics import HubCollector
from hub.api.routers import ROUTERS
from hub.api.services import HubServices
from hub.config import WebSection
from hub.worker import HubSetupError, HubWorker

log = logging.getLogger(__name__)

API_VERSION = "1.0.0"
SERVER_STOP_S = 10.0
"""How long ``WebServer.stop`` waits for uvicorn to finish its requests."""

__all__ = ["API_VERSION", "DynSecPerCall", "HubServices", "WebServer", "create_app", "serve_worker"]


def create_app(
    settings: WebSection,
    services: HubServices,
    *,
    dashboard: bool = True,
    extra_routers: Sequence[APIRouter] = (),
) -> FastAPI:
    """The hub's web app over ``services``: the API, and the dashboard's pages under ``/web`` unless ``dashboard``
    is False (a test that builds the dashboard's router itself passes it in ``extra_routers``)."""
    app = FastAPI(
        title="gridpass hub",
        version=API_VERSION,
        summary="Fleet, operators, commands, audit and lists of a gridpass hub.",
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    registry = CollectorRegistry(auto_describe=False)
    registry.register(HubCollector(services))
    app.state.http_refusals = problems.refusal_counter(registry)
    app.state.gridpass = WebContext(settings, services, registry)
    problems.install(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    routers = list(ROUTERS)
    if dashboard:
        from hub.web.router import dashboard_router  # noqa: PLC0415 - the pages' templates load only when served

        routers.append(dashboard_router())
    for router in (*routers, *extra_routers):
        app.include_router(router)
    return app


class WebServer:
    """uvicorn serving an app in a thread of its own, stopped on request (``gridpass hub run``)."""

    def __init__(self, app: FastAPI, host: str, port: int) -> None:
        import uvicorn  # noqa: PLC0415 - only a process that serves needs it

        self._server = uvicorn.Server(
            uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False, server_header=False)
        )
        # uvicorn leaves signals alone outside the main thread: the worker's SIGTERM handler stays in charge.
        self._thread = threading.Thread(target=self._server.run, name="hub-web", daemon=True)

    def start(self) -> None:
        """Serve in the background."""
        self._thread.start()

    @property
    def started(self) -> bool:
        """Whether uvicorn listens."""
        return bool(self._server.started)

    def stop(self) -> None:
        """Finish the requests under way and stop."""
        self._server.should_exit = True
        self._thread.join(SERVER_STOP_S)
        if self._thread.is_alive():
            log.warning("the web server did not stop within %ss", SERVER_STOP_S)


class DynSecPerCall:
    """The broker's dynamic security, one admin connection per change (enrolments and decommissions are rare; a
    broker that was down at hub start works as soon as it is back)."""

    def __init__(self, host: str, port: int, username: str, password: str) -> None:
        self._args = (host, port, username, password)

    def enrol_device(self, device_id: str, password: str) -> None:
        """Create or update the terminal's broker user (making the shared roles first if they are missing)."""
        from hub.broker.dynsec import DynSecAdmin  # noqa: PLC0415 - paho only where a broker is configured

        with DynSecAdmin(*self._args) as admin:
            admin.ensure_all()
            admin.enrol_device(device_id, password)

    def decommission_device(self, device_id: str) -> None:
        """Disable the terminal's broker user; the broker drops its live connection."""
        from hub.broker.dynsec import DynSecAdmin  # noqa: PLC0415

        with DynSecAdmin(*self._args) as admin:
            admin.decommission_device(device_id)


def serve_worker(worker: HubWorker, *, extra_routers: Sequence[APIRouter] = ()) -> WebServer:
    """Start serving the web app of a worker whose config has ``[web]``, sharing its engine and broker link."""
    config = worker.config
    if config.web is None:
        raise ValueError("the config has no [web] section")
    broker: DynSecPerCall | None = None
    if config.broker.admin_user is not None and config.broker.admin_password_file is not None:
        try:
            password = config.broker.admin_password_file.read_text().strip()
        except OSError as exc:
            raise HubSetupError(f"cannot read the broker admin password: {exc.strerror}") from exc
        broker = DynSecPerCall(config.broker.host, config.broker.port, config.broker.admin_user, password)
    engine = worker.ingest.target
    if not isinstance(engine, Engine):
        raise HubSetupError("the worker's storage target is not an engine")
    services = HubServices(
        engine, time.time, publisher=worker.link, broker=broker, ingest=worker.ingest, config_signer=worker.signer
    )
    server = WebServer(create_app(config.web, services, extra_routers=extra_routers), config.web.host, config.web.port)
    server.start()
    log.info("serving the hub's web app on %s:%s", config.web.host, config.web.port)
    return server
