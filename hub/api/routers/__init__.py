"""One router per resource; ``ROUTERS`` is what ``create_app`` includes, in order."""

from __future__ import annotations

from fastapi import APIRouter

from hub.api.routers import audit, auth, commands, configs, devices, health, lists, stats, users

ROUTERS: tuple[APIRouter, ...] = (
    health.router,
    auth.router,
    users.router,
    devices.router,
    commands.router,
    configs.router,
    audit.router,
    lists.router,
    stats.router,
)
