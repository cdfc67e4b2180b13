"""A hub ingest worker: the composition root of the ingest side (the web app comes with the operators' issue).

Builds the engine, migrates, connects to the broker, hands every message to the ingest, and publishes the district's
current lists retained on the ``dist/`` topics so that every terminal, connected now or later, gets them.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from hub.config import HubConfig
from hub.ingest import Ingest
from hub.mqtt.link import HubBrokerSettings, HubLink
from hub.storage.engine import create_engine
from hub.storage.lists import (
    current_revocation,
    current_trust_list,
    revocation_list_ids,
    store_revocation_update,
    store_trust_list,
)
from hub.storage.migrate import upgrade
from protocol import topics
from protocol.documents import DocumentError
from protocol.keys import PublicKey, load_public_key_pem
from protocol.revocation import parse_revocation_update
from protocol.trustlist import parse_trust_list

log = logging.getLogger(__name__)

LISTS_REPUBLISH_S = 60.0


class HubSetupError(Exception):
    """The worker cannot start; the message says what to fix."""


def _read_secret(path: Path, what: str) -> str:
    try:
        return path.read_text().strip()
    except OSError as exc:
        raise HubSetupError(f"cannot read the {what} from {path}: {exc.strerror}") from exc


@dataclass
class HubWorker:
    """One ingest worker process."""

    config: HubConfig
    ingest: Ingest
    link: HubLink
    root_key: PublicKey

    def publish_lists(self) -> int:
        """Publish the stored current trust list and revocation versions, retained; returns how many."""
        published = 0
        trust = current_trust_list(self.ingest.target)
        if trust is not None and self.link.publish(topics.trustlist(), trust.document, retain=True):
            published += 1
        for list_id in self.list_ids():
            current = current_revocation(self.ingest.target, list_id)
            if current is not None and self.link.publish(topics.revocations(list_id), current.document, retain=True):
                published += 1
        return published

    def list_ids(self) -> list[str]:
        """Revocation lists the hub holds."""
        return revocation_list_ids(self.ingest.target)

    def accept_list(self, document: bytes) -> str:
        """A signed list from the district: verify under the root key, store, publish retained. Returns what it was."""
        now = time.time()
        try:
            update = parse_revocation_update(document, self.root_key)
        except DocumentError:
            trust = parse_trust_list(document, self.root_key)
            store_trust_list(self.ingest.target, document, seq=trust.seq, ts=trust.ts, now=now)
            self.link.publish(topics.trustlist(), document, retain=True)
            return f"trust list {trust.seq}"
        store_revocation_update(self.ingest.target, document, update, now=now)
        self.link.publish(topics.revocations(update.list_id), document, retain=True)
        return f"revocation list {update.list_id} version {update.seq}"

    def run(self, stop: threading.Event) -> None:
        """Ingest until ``stop`` is set; the lists are republished now and then (a broker may have lost them)."""
        self.link.start()
        try:
            while not stop.wait(LISTS_REPUBLISH_S if self.link.connected else 0.5):
                if self.link.connected:
                    self.publish_lists()
        finally:
            self.link.stop()


def build(config: HubConfig) -> HubWorker:
    """Wire a worker from its config."""
    try:
        root_key = load_public_key_pem(config.lists.root_key.read_bytes())
    except (OSError, ValueError) as exc:
        raise HubSetupError(f"cannot load the district root key {config.lists.root_key}: {exc}") from exc
    engine = create_engine(config.database.url)
    upgrade(engine)
    holder: list[HubLink] = []
    ingest = Ingest(
        engine,
        lambda topic, data: bool(holder) and holder[0].publish(topic, data),
        clock=time.time,
        monotonic=time.monotonic,
    )
    broker = config.broker
    link = HubLink(
        HubBrokerSettings(
            broker.host,
            broker.port,
            broker.username,
            _read_secret(broker.password_file, "hub's broker password"),
            client_id=config.worker.id,
            share_group=config.worker.share_group,
            ca_file=broker.ca_file,
        ),
        ingest.handle,
    )
    holder.append(link)
    return HubWorker(config, ingest, link, root_key)
