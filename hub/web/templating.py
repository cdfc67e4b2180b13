"""The dashboard's Jinja2 environment: templates and static files from the package, autoescaped, strict.

Times are shown in UTC (the hub's hours are UTC hours); ``ago`` counts from the page's own ``now``, which the
routers take from the injected clock.
"""

from __future__ import annotations

import hashlib
import time
from functools import cache
from importlib import resources
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from hub.storage.stats import DECISIONS, PRESENCE_KEYS
from hub.web.svg import PRESENCE_LABELS, SYMBOLS

STATIC_FILES = {
    "app.css": "text/css; charset=utf-8",
    "live.js": "text/javascript; charset=utf-8",
}
"""Every static file the dashboard serves, with its type: nothing outside this list is ever read."""
MINUTE_S = 60
HOUR_S = 3600
DAY_S = 86400


def when(at: float | None) -> str:
    """A Unix time as ``YYYY-MM-DD HH:MM:SS UTC`` ("—" for none)."""
    if at is None:
        return "—"
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(at))


def ago(at: float | None, now: float) -> str:
    """How long before ``now`` (``never`` for none, ``in the future`` for a clock ahead)."""
    if at is None:
        return "never"
    seconds = now - at
    if seconds < -MINUTE_S:
        return "in the future"
    if seconds < MINUTE_S:
        return "just now"
    if seconds < HOUR_S:
        return f"{int(seconds // MINUTE_S)} min ago"
    if seconds < 2 * DAY_S:
        return f"{int(seconds // HOUR_S)} h ago"
    return f"{int(seconds // DAY_S)} days ago"


@cache
def static_file(name: str) -> bytes:
    """A vendored static file's bytes (``name`` must be one of ``STATIC_FILES``)."""
    if name not in STATIC_FILES:
        raise KeyError(name)
    return resources.files("hub.web").joinpath("static", name).read_bytes()


@cache
def static_version(name: str) -> str:
    """A short digest of a static file, appended to its URL so browsers never keep an old one."""
    return hashlib.sha256(static_file(name)).hexdigest()[:12]


def static_url(name: str) -> str:
    """The URL of a static file, versioned by its content."""
    return f"/web/static/{name}?v={static_version(name)}"


@cache
def environment() -> Environment:
    """The dashboard's template environment (built once, on first use)."""
    env = Environment(
        loader=PackageLoader("hub.web", "templates"),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=False,
        lstrip_blocks=False,
    )
    env.filters["when"] = when
    env.filters["ago"] = ago
    env.globals.update(
        static=static_url,
        decisions_names=DECISIONS,
        presence_keys=PRESENCE_KEYS,
        presence_labels=PRESENCE_LABELS,
        symbols=SYMBOLS,
    )
    return env


def render(template: str, context: dict[str, Any]) -> str:
    """A page rendered to text."""
    return environment().get_template(template).render(context)
