"""The hub's configuration-signing key and the district root's delegation of it (``protocol/device_config.py``).

Loaded once at start and checked against the district root key, so a hub whose delegation is wrong, expired or for
another key says so at start, in words, instead of pushing configurations every terminal would refuse.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from protocol.device_config import Delegation, parse_delegation, seal_device_config
from protocol.documents import DocumentError
from protocol.keys import KeyFormatError, PrivateKey, PublicKey, load_private_key_pem, spki_der


class ConfigSignerError(Exception):
    """The signing key or its delegation cannot be used; the message says what to do."""


@dataclass(frozen=True)
class ConfigSigner:
    """Signs device configurations under a delegation from the district root."""

    key: PrivateKey
    delegation: bytes
    granted: Delegation

    @classmethod
    def load(cls, key_file: Path, delegation_file: Path, root_key: PublicKey, *, now: float) -> ConfigSigner:
        """Read and check the key and its delegation."""
        try:
            key = load_private_key_pem(key_file.read_bytes())
            delegation = delegation_file.read_bytes()
        except OSError as exc:
            raise ConfigSignerError(f"cannot read the config signing key or delegation: {exc}") from exc
        except KeyFormatError as exc:
            raise ConfigSignerError(f"{key_file} is not a private key in PEM") from exc
        try:
            granted = parse_delegation(delegation, root_key)
        except DocumentError as exc:
            raise ConfigSignerError(
                f"{delegation_file} is not a delegation from this district's root ({exc}); ask the district for one: "
                "gridpass district delegate"
            ) from exc
        if spki_der(granted.key) != spki_der(key.public_key()):
            raise ConfigSignerError(f"{delegation_file} delegates another key than {key_file}")
        if not granted.nbf <= now <= granted.exp:
            raise ConfigSignerError(f"{delegation_file} is not valid now (nbf {granted.nbf}, exp {granted.exp})")
        return cls(key, delegation, granted)

    def sign(self, device: str, version: int, settings: Mapping[str, Mapping[str, Any]], *, now: float) -> bytes:
        """The ``down/config`` payload for one version of one device's configuration."""
        if not self.granted.nbf <= now <= self.granted.exp:
            raise ConfigSignerError("the delegation has expired: ask the district for a new one")
        return seal_device_config(
            self.key, self.delegation, device=device, version=version, issued=int(now), settings=settings
        )
