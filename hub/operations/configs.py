"""Device configuration push: an operator's settings, numbered, signed, kept, published retained to the terminal.

The hub checks the shape and bounds (``protocol.device_config.check_settings``); the terminal checks the meaning with
its own config models and answers ``config:<version>`` on its result topic, which ``record_answer`` keeps beside the
version. A push while the broker is away is kept and published by the worker's next republish round.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Engine

from hub.config_signer import ConfigSigner, ConfigSignerError
from hub.operations.audit import Actor, audited, refuse
from hub.operations.errors import InvalidInputError, NotFoundError, translated
from hub.operations.ports import Publisher
from hub.storage.configs import ConfigVersion, config_history, latest_config, mark_published, store_config
from hub.storage.devices import get_device
from protocol import topics
from protocol.device_config import check_settings
from protocol.documents import DocumentError

log = logging.getLogger(__name__)

ACTION = "config.push"


@dataclass(frozen=True, slots=True)
class PushResult:
    """A pushed version, and whether it is already on its way to the broker."""

    config: ConfigVersion
    published: bool


def push_config(
    engine: Engine,
    publisher: Publisher | None,
    signer: ConfigSigner | None,
    actor: Actor,
    device_id: str,
    *,
    settings: Mapping[str, Any],
    now: float,
) -> PushResult:
    """Number, sign, keep and publish (retained) a device's next configuration; audited."""
    try:
        checked = _checked(signer, settings)
        assert signer is not None  # noqa: S101 - _checked refused a missing signer
    except InvalidInputError as exc:
        refuse(engine, actor, ACTION, device_id, now=now, detail=f"{exc.code}: {exc}")
        raise
    with audited(engine, actor, ACTION, device_id, now=now) as scope:
        try:
            config = store_config(
                scope.conn, device_id, checked,
                lambda version: signer.sign(device_id, version, checked, now=now), created_by=actor.name, now=now,
            )  # fmt: skip
        except ConfigSignerError as exc:
            raise InvalidInputError(str(exc)) from exc
        scope.detail = f"version {config.version}"
    published = publisher is not None and publisher.publish(
        topics.down(device_id, topics.Down.CONFIG), config.payload, retain=True
    )
    if published:
        with translated():
            mark_published(engine, device_id, config.version, now=now)
    else:
        log.info("config %d for %s kept; it is published when the broker is back", config.version, device_id)
    return PushResult(config, published)


def _checked(signer: ConfigSigner | None, settings: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    if signer is None:
        raise InvalidInputError("this hub has no config signing key: set [config_push] in the hub config")
    try:
        return check_settings(settings)
    except DocumentError as exc:
        raise InvalidInputError(f"settings: {exc.detail}") from exc


def current_config(engine: Engine, device_id: str) -> ConfigVersion | None:
    """The newest configuration pushed to a device (None: never pushed)."""
    with translated():
        if get_device(engine, device_id) is None:
            raise NotFoundError(f"no device {device_id!r}")
        return latest_config(engine, device_id)


def history(engine: Engine, device_id: str, *, limit: int = 20) -> list[ConfigVersion]:
    """A device's configurations, newest first."""
    with translated():
        if get_device(engine, device_id) is None:
            raise NotFoundError(f"no device {device_id!r}")
        return config_history(engine, device_id, limit=limit)
