"""Wiring the relay into a hub worker: build it from the ``[district]`` section, run it on a thread of its own."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable

from hub.config import DistrictSection
from hub.relay.client import ClientSettings, DistrictClient, read_token
from hub.relay.service import RelayService, RelaySettings
from hub.storage.engine import Target

log = logging.getLogger(__name__)

STOP_WAIT_S = 60.0
"""How long a stopping worker waits for the relay's call in flight (bounded by the client's total timeout)."""


class RelayRunner:
    """The relay service on a daemon thread, stopped with the worker."""

    def __init__(self, service: RelayService) -> None:
        self.service = service
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start relaying (once)."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self.service.run, args=(self._stop,), name="district-relay", daemon=True
            )
            self._thread.start()

    def stop(self, timeout_s: float = STOP_WAIT_S) -> None:
        """Stop relaying, wait for the thread, close the client."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                log.warning("the district relay did not stop within %.0f s", timeout_s)
        self.service.client.close()


def build_relay(
    section: DistrictSection, target: Target, accept_list: Callable[[bytes], str], *, holder: str
) -> RelayRunner:
    """A relay runner for a hub worker; raises ``DistrictError`` when the token cannot be read."""
    client = DistrictClient(
        ClientSettings(
            section.url,
            read_token(section.token_file),
            ca_file=section.ca_file,
            client_cert=section.client_cert,
            client_key=section.client_key,
            connect_timeout_s=section.connect_timeout_s,
            read_timeout_s=section.read_timeout_s,
            total_timeout_s=section.total_timeout_s,
        )
    )
    service = RelayService(
        target,
        client,
        accept_list=accept_list,
        clock=time.time,
        rng=random.Random(),  # noqa: S311 - jitter, not cryptography
        settings=RelaySettings(holder=holder, pull_interval_s=section.pull_interval_s),
    )
    return RelayRunner(service)
