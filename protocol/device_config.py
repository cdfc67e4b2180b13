"""Signed device configuration, pushed by the hub retained on ``down/config`` (sync spec, topic tree).

Two signatures, so that a hub operator can edit configurations without the district root's private key ever leaving
the district, and a terminal still trusts nothing but the root key it got at flashing:

- a **delegation**, signed by the district root: "this Ed25519/ECDSA key may sign configurations for hub H between
  ``nbf`` and ``exp``" (``gridpass district delegate`` makes it, once per hub key);
- a **configuration**, signed by that delegated key: the settings for one device, with a version number that only
  grows (a terminal refuses an older or equal one, so a replayed retained message cannot roll a terminal back).

On the wire (``down/config``): a CBOR map ``{"v": 1, "delegation": bstr, "config": bstr}``; both byte strings are
tagged COSE_Sign1 documents (:func:`protocol.documents.seal`). Bodies::

    delegation = {"v": 1, "type": "config-signer", "hub": tstr, "key": bstr (SubjectPublicKeyInfo DER),
                  "nbf": uint, "exp": uint}
    config     = {"v": 1, "type": "device-config", "device": tstr, "version": uint (>= 1), "issued": uint,
                  "settings": {section: {key: value}}}

``settings`` are overrides of the terminal's own TOML configuration, two levels deep (section, key), with scalar
values or lists of scalars; which keys a terminal accepts is the terminal's policy (``device/config_push.py``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from protocol.codec import cbor_dumps, cbor_loads
from protocol.documents import DocumentError, DocumentProblem, field, open_signed, seal, uint
from protocol.keys import KeyFormatError, PrivateKey, PublicKey, load_public_key_der, spki_der
from protocol.reasons import CredentialError
from protocol.topics import check_device_id

VERSION = 1
MAX_PUSH_BYTES = 32 * 1024
"""A whole ``down/config`` message at most."""
MAX_DELEGATION_BYTES = 4 * 1024
MAX_SECTIONS = 16
MAX_KEYS_PER_SECTION = 32
MAX_LIST_ITEMS = 256
MAX_TEXT = 1024
MAX_NAME = 64


@dataclass(frozen=True, slots=True)
class Delegation:
    """The root's permission for one hub key to sign configurations."""

    hub: str
    key: PublicKey
    nbf: int
    exp: int


@dataclass(frozen=True, slots=True)
class DeviceConfigDoc:
    """A verified configuration for one device."""

    device: str
    version: int
    issued: int
    settings: dict[str, dict[str, Any]]
    hub: str
    """Which hub's delegated key signed it."""


def make_delegation(root_key: PrivateKey, hub: str, hub_key: PublicKey, *, nbf: int, exp: int) -> bytes:
    """Root-signed delegation of configuration signing to ``hub_key`` (district side)."""
    if not 0 < len(hub) <= MAX_NAME:
        raise ValueError("hub name must be 1-64 characters")
    if not 0 <= nbf < exp:
        raise ValueError("a delegation needs nbf < exp")
    body = {"v": VERSION, "type": "config-signer", "hub": hub, "key": spki_der(hub_key), "nbf": nbf, "exp": exp}
    return seal(root_key, body)


def parse_delegation(data: bytes, root_key: PublicKey) -> Delegation:
    """Verify a delegation under the district root key."""
    body = open_signed(data, root_key, max_bytes=MAX_DELEGATION_BYTES)
    if body.get("v") != VERSION or body.get("type") != "config-signer":
        raise DocumentError(DocumentProblem.BAD_SCHEMA, "not a version 1 config-signer delegation")
    hub = field(body, "hub", str)
    if not 0 < len(hub) <= MAX_NAME:
        raise DocumentError(DocumentProblem.BAD_SCHEMA, "hub name must be 1-64 characters")
    try:
        key = load_public_key_der(field(body, "key", bytes))
    except KeyFormatError as exc:
        raise DocumentError(DocumentProblem.BAD_SCHEMA, "the delegated key is not a public key") from exc
    nbf, exp = uint(body, "nbf"), uint(body, "exp")
    if nbf >= exp:
        raise DocumentError(DocumentProblem.BAD_SCHEMA, "delegation with nbf >= exp")
    return Delegation(hub, key, nbf, exp)


def check_settings(settings: object) -> dict[str, dict[str, Any]]:
    """The settings map, checked for shape and bounds (not for meaning: the terminal validates that)."""
    if not isinstance(settings, Mapping) or len(settings) > MAX_SECTIONS:
        raise DocumentError(DocumentProblem.BAD_SCHEMA, f"settings must be a map of at most {MAX_SECTIONS} sections")
    checked: dict[str, dict[str, Any]] = {}
    for section, values in settings.items():
        if not isinstance(section, str) or not 0 < len(section) <= MAX_NAME:
            raise DocumentError(DocumentProblem.BAD_SCHEMA, "a section name is not a short text")
        if not isinstance(values, Mapping) or len(values) > MAX_KEYS_PER_SECTION:
            raise DocumentError(DocumentProblem.BAD_SCHEMA, f"section {section!r} is not a map of at most 32 keys")
        checked[section] = {}
        for key, value in values.items():
            if not isinstance(key, str) or not 0 < len(key) <= MAX_NAME:
                raise DocumentError(DocumentProblem.BAD_SCHEMA, f"a key of {section!r} is not a short text")
            checked[section][key] = _value(value, f"{section}.{key}")
    return checked


def _scalar(value: object) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, bool | int) or (isinstance(value, str) and len(value) <= MAX_TEXT)


def _value(value: object, where: str) -> Any:  # noqa: ANN401 - a checked scalar or list of scalars
    if _scalar(value):
        return value
    if isinstance(value, list) and len(value) <= MAX_LIST_ITEMS:
        items = [item for item in value if _scalar(item) or _short_list(item)]
        if len(items) == len(value):
            return list(value)
    raise DocumentError(DocumentProblem.BAD_SCHEMA, f"{where} is not a scalar or a short list of scalars")


def _short_list(item: object) -> bool:
    """One level of nesting for lists of points (polygons of a grid cell, a motion mask)."""
    return isinstance(item, list) and len(item) <= MAX_LIST_ITEMS and all(_scalar(v) for v in item)


def seal_device_config(
    signer: PrivateKey,
    delegation: bytes,
    *,
    device: str,
    version: int,
    issued: int,
    settings: Mapping[str, Mapping[str, Any]],
) -> bytes:
    """The ``down/config`` payload for one device (hub side)."""
    check_device_id(device)
    if not 1 <= version < 2**63:
        raise ValueError("version must be 1..2**63-1")
    body = {
        "v": VERSION,
        "type": "device-config",
        "device": device,
        "version": version,
        "issued": issued,
        "settings": check_settings(settings),
    }
    payload = cbor_dumps({"v": VERSION, "delegation": delegation, "config": seal(signer, body)})
    if len(payload) > MAX_PUSH_BYTES:
        raise ValueError(f"the configuration is {len(payload)} bytes, more than {MAX_PUSH_BYTES}")
    return payload


def open_device_config(data: bytes, root_key: PublicKey, *, device: str) -> DeviceConfigDoc:
    """Verify a ``down/config`` payload for ``device``: delegation under the root, config under the delegated key.

    Every refusal is a :class:`DocumentError` whose ``problem`` names a counter.
    """
    if len(data) > MAX_PUSH_BYTES:
        raise DocumentError(DocumentProblem.TOO_LARGE, f"{len(data)} bytes, the limit is {MAX_PUSH_BYTES}")
    try:
        outer = cbor_loads(data, max_depth=3)
    except CredentialError as exc:
        raise DocumentError(DocumentProblem.BAD_COSE, "not a CBOR config message") from exc
    if not isinstance(outer, dict) or outer.get("v") != VERSION:
        raise DocumentError(DocumentProblem.BAD_SCHEMA, "not a version 1 config message")
    delegation = parse_delegation(field(outer, "delegation", bytes), root_key)
    body = open_signed(field(outer, "config", bytes), delegation.key, max_bytes=MAX_PUSH_BYTES)
    if body.get("v") != VERSION or body.get("type") != "device-config":
        raise DocumentError(DocumentProblem.BAD_SCHEMA, "not a version 1 device configuration")
    if field(body, "device", str) != device:
        raise DocumentError(DocumentProblem.WRONG_DEVICE, "this configuration is for another device")
    version, issued = uint(body, "version"), uint(body, "issued")
    if version < 1:
        raise DocumentError(DocumentProblem.BAD_SCHEMA, "version must be at least 1")
    if not delegation.nbf <= issued <= delegation.exp:
        raise DocumentError(DocumentProblem.WRONG_KEY, "signed outside the delegation's validity")
    return DeviceConfigDoc(device, version, issued, check_settings(body.get("settings")), delegation.hub)
