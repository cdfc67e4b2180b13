"""Hub tokens: each hub authenticates with a bearer token of its own; the district keeps only their SHA-256.

The tokens file has one line per hub, ``HUB_ID SHA256_HEX`` (``#`` starts a comment). ``gridpass district
hub-token`` makes a token, writes it to a file for the hub (0600) and appends its hash here.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from pathlib import Path

HUB_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
TOKEN_BYTES = 32
MAX_TOKEN_CHARS = 256
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


class TokenFileError(Exception):
    """The tokens file cannot be read or has a malformed line; the message names the line."""


def token_hash(token: str) -> str:
    """The SHA-256 (hex) of a token, as the tokens file keeps it."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    """A fresh random token (URL-safe text)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def parse_tokens(text: str, source: str = "tokens") -> dict[str, str]:
    """``{token hash: hub id}`` from the file's text."""
    hubs: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) != 2 or not HUB_ID.fullmatch(parts[0]) or not _SHA256_HEX.fullmatch(parts[1]):
            raise TokenFileError(f"{source}:{number}: write each line as HUB_ID SHA256_HEX")
        if parts[1] in hubs:
            raise TokenFileError(f"{source}:{number}: this token is already given to hub {hubs[parts[1]]}")
        hubs[parts[1]] = parts[0]
    return hubs


def load_tokens(path: Path) -> dict[str, str]:
    """Read a tokens file (a missing file is no hub at all)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise TokenFileError(f"cannot read {path}: {exc.strerror}") from exc
    return parse_tokens(text, str(path))


def hub_of(hubs: dict[str, str], token: str) -> str | None:
    """The hub a presented token belongs to (compared in constant time against every known hash)."""
    if not 0 < len(token) <= MAX_TOKEN_CHARS:
        return None
    presented = token_hash(token)
    found = None
    for digest, hub in hubs.items():
        if hmac.compare_digest(digest, presented):
            found = hub
    return found


def add_hub(tokens_file: Path, hub_id: str, token_out: Path) -> str:
    """Make a token for ``hub_id``: write it to ``token_out`` (0600, never overwritten), append its hash."""
    if not HUB_ID.fullmatch(hub_id):
        raise TokenFileError(f"hub id {hub_id!r} is not 1-64 of A-Z, a-z, 0-9, '_' and '-'")
    known = load_tokens(tokens_file)
    if hub_id in known.values():
        raise TokenFileError(f"hub {hub_id} has a token already: remove its line from {tokens_file} first")
    token = new_token()
    try:
        fd = os.open(token_out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise TokenFileError(f"cannot create {token_out}: {exc.strerror} (it is never overwritten)") from exc
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(token + "\n")
    tokens_file.parent.mkdir(parents=True, exist_ok=True)
    with tokens_file.open("a", encoding="utf-8") as out:
        out.write(f"{hub_id} {token_hash(token)}\n")
    return token
