"""Bearer secrets: session cookies and API tokens are random, shown once, and kept only as their SHA-256."""

from __future__ import annotations

import hashlib
import re
import secrets

TOKEN_BYTES = 32
API_TOKEN_PREFIX = "gph_"  # noqa: S105 - a marker, not a secret
"""API tokens start with this, so a leaked one is recognisable (secret scanners, logs)."""
PREFIX_CHARS = 8
MAX_SECRET_CHARS = 128
_SECRET = re.compile(r"[A-Za-z0-9_-]{16,128}")


def new_api_token() -> str:
    """A new API token (``gph_`` and 43 URL-safe characters)."""
    return API_TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)


def new_session_token() -> str:
    """A new session cookie value."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def new_csrf_token() -> str:
    """A new CSRF token (kept with the session, echoed by forms and unsafe API requests)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def digest(secret: str) -> str:
    """What the hub stores and looks up: the SHA-256 of the secret, hex."""
    return hashlib.sha256(secret.encode()).hexdigest()


def plausible(secret: str) -> bool:
    """Whether a presented secret has the shape of one of ours (checked before any database work)."""
    return _SECRET.fullmatch(secret) is not None


def display_prefix(token: str) -> str:
    """The first characters after the marker, to tell tokens apart in listings."""
    return token.removeprefix(API_TOKEN_PREFIX)[:PREFIX_CHARS]


def same(a: str, b: str) -> bool:
    """Constant-time comparison."""
    return secrets.compare_digest(a.encode(), b.encode())
