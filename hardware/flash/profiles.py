"""The profile a card is flashed with: a shipped one (``hardware/profiles``, by kind or name) or a TOML file."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from device.config import ConfigError, read_toml
from hardware.flash.errors import FlashError
from hardware.profiles import ProfileError, load_profile

KINDS = ("scanner", "camera", "handheld")


def load_base(profile: str) -> tuple[str, Mapping[str, Any]]:
    """``(terminal kind, raw config with @NAME@ tokens)`` of a shipped profile or a ``.toml`` file."""
    if profile.endswith(".toml"):
        try:
            raw = read_toml(Path(profile))
        except ConfigError as exc:
            raise FlashError(str(exc)) from exc
    else:
        try:
            raw = load_profile(profile)
        except ProfileError as exc:
            raise FlashError(str(exc)) from exc
    device = raw.get("device")
    kind = device.get("profile") if isinstance(device, dict) else None
    if kind not in KINDS:
        raise FlashError(f"profile {profile}: [device] profile must be one of {', '.join(KINDS)}")
    return str(kind), raw
