"""Device profiles: config templates for the terminal hardware gridpass supports (TOML beside this file).

A profile is a whole device config (``device/config.py``) whose identity, place, hub and paths are ``@NAME@``
tokens that the flashing tool fills in (:data:`PLACEHOLDERS`). :func:`load_profile` reads one as a dict, by file
name (``scanner-pi4-usbcam``) or by the terminal kind it serves (``scanner``, ``camera``, ``handheld``);
:func:`fill` puts values in; :func:`unfilled` says which tokens are still there. Wiring is in ``WIRING.md``.
"""

from __future__ import annotations

import copy
import re
import tomllib
from collections.abc import Mapping
from importlib import resources
from typing import Any

PLACEHOLDERS: dict[str, str] = {
    "DEVICE_ID": "the terminal's device id, e.g. scanner-sh-pd-1-3fa9c2 (also its broker user name)",
    "SITE": "site code, e.g. a metro station or compound",
    "GRID_CELL": "grid cell code of the site (may be empty)",
    "LIST_ID": "the district's revocation list id, e.g. CN-SH-PD",
    "BROKER_HOST": "the hub's broker host name or address (TLS on 8883; add [sync] ca_file for its CA)",
    "ETC": "config and key directory, /etc/gridpass on the terminal",
    "VAR": "state directory, /var/lib/gridpass on the terminal",
}
"""Token name (written ``@NAME@`` in a profile) -> what goes there."""
DEFAULTS: dict[str, str] = {"ETC": "/etc/gridpass", "VAR": "/var/lib/gridpass"}
"""Values used by :func:`fill` for tokens not given."""
KINDS: dict[str, str] = {
    "scanner": "scanner-pi4-usbcam",
    "camera": "camera-pi-picam",
    "handheld": "handheld-pi-touch-gps",
}
"""The default profile of each terminal kind."""
TOKEN = re.compile(r"@([A-Z_]+)@")


class ProfileError(ValueError):
    """No such profile, a broken one, or a value that cannot go into it."""


def list_profiles() -> list[str]:
    """Names of the profiles shipped here."""
    return sorted(entry.name.removesuffix(".toml") for entry in resources.files(__name__).iterdir()
                  if entry.name.endswith(".toml"))  # fmt: skip


def load_profile(name: str) -> dict[str, Any]:
    """A profile's raw config dict (tokens unfilled), by profile name or terminal kind."""
    stem = KINDS.get(name, name)
    if stem not in list_profiles():
        raise ProfileError(f"no profile {name!r}: choose one of {', '.join([*KINDS, *list_profiles()])}")
    text = resources.files(__name__).joinpath(f"{stem}.toml").read_text(encoding="utf-8")
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"profile {stem} is not valid TOML: {exc}") from exc


def fill(profile: Mapping[str, Any], values: Mapping[str, str]) -> dict[str, Any]:
    """A copy of ``profile`` with every ``@NAME@`` token replaced (``values`` first, then :data:`DEFAULTS`)."""
    unknown = set(values) - set(PLACEHOLDERS)
    if unknown:
        raise ProfileError(f"unknown placeholders {sorted(unknown)}: known are {sorted(PLACEHOLDERS)}")
    merged = {**DEFAULTS, **values}
    for key, value in merged.items():
        if TOKEN.search(value) or "\n" in value:
            raise ProfileError(f"the value for {key} holds a token or a line break")

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in merged:
            raise ProfileError(f"no value for placeholder @{name}@ ({PLACEHOLDERS.get(name, 'unknown')})")
        return merged[name]

    def walk(node: object) -> object:
        if isinstance(node, str):
            return TOKEN.sub(replace, node)
        if isinstance(node, Mapping):
            return {key: walk(value) for key, value in node.items()}
        if isinstance(node, list):
            return [walk(item) for item in node]
        return copy.deepcopy(node)

    filled = walk(profile)
    assert isinstance(filled, dict)  # noqa: S101 - walk keeps a mapping a mapping
    return filled


def unfilled(profile: Mapping[str, Any]) -> list[str]:
    """The ``@NAME@`` tokens still in ``profile``, sorted."""
    found: set[str] = set()

    def walk(node: object) -> None:
        if isinstance(node, str):
            found.update(TOKEN.findall(node))
        elif isinstance(node, Mapping):
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(profile)
    return sorted(found)
