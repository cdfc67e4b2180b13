"""What the web side is given by its composition root (``hub.app.create_app``): nothing here is built at import."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.engine import Engine

from hub.config_signer import ConfigSigner
from hub.operations.ports import BrokerControl, Publisher

if TYPE_CHECKING:
    from hub.ingest import Ingest


@dataclass(frozen=True)
class HubServices:
    """The running parts the web app uses; ``publisher`` and ``broker`` are optional (then commands are stored but
    not sent, and enrolment and decommission change only the hub's side)."""

    engine: Engine
    clock: Callable[[], float]
    publisher: Publisher | None = None
    broker: BrokerControl | None = None
    ingest: Ingest | None = None
    """The ingest worker in the same process, for its counters on ``/metrics``."""
    config_signer: ConfigSigner | None = None
    """Signs pushed device configurations (``[config_push]``); None: this hub cannot push configurations."""
