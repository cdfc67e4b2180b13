"""A hub ingest worker: the composition root of the ingest side (the web app comes with the operators' issue).

Builds the engine, migrates, connects to the broker, hands every message to the ingest, and publishes the district's
current lists retained on the ``dist/`` topics so that every terminal, connected now or later, gets them.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from hub.config import HubConfig
from hub.config_signer import ConfigSigner, ConfigSignerError
from hub.ingest import Ingest
from hub.mqtt.link import HubBrokerSettings, HubLink
from hub.relay.client import DistrictError
from hub.relay.runner import RelayRunner, build_relay
from hub.storage.configs import mark_published, unpublished_configs
from hub.storage.engine import create_engine
from hub.storage.lists import (
    current_revocation,
    current_trust_list,
    revocation_list_ids,
    store_revocation_update,
    store_trust_list,
)
from hub.storage.migrate import upgrade
from hub.systemd import Notifier
from hub.triggers import SnapshotTriggers
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
    signer: ConfigSigner | None = None
    """Signs pushed device configurations (``[config_push]``); None: this hub cannot push configurations."""
    notifier: Notifier = field(default_factory=Notifier.from_environment)
    """systemd's notify socket (Type=notify, WatchdogSec=); silent outside systemd."""
    relay: RelayRunner | None = None
    """The district relay (``[district]``); None: reports stay at the hub."""
    _next_publish: float = field(default=0.0, init=False, repr=False)

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

    def publish_configs(self) -> int:
        """Publish, retained, the pushed configurations not yet handed to the broker; returns how many."""
        published = 0
        for config in unpublished_configs(self.ingest.target):
            if not self.link.publish(topics.down(config.device_id, topics.Down.CONFIG), config.payload, retain=True):
                break
            mark_published(self.ingest.target, config.device_id, config.version, now=time.time())
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
        if self.relay is not None:
            self.relay.start()
        self.notifier.ready(f"worker {self.config.worker.id}")
        try:
            while not stop.wait(self._pause_s()):
                now = time.monotonic()
                self.notifier.tick(now)
                if self.link.connected and now >= self._next_publish:
                    self.publish_lists()
                    self.publish_configs()
                    self._next_publish = now + LISTS_REPUBLISH_S
        finally:
            self.notifier.stopping()
            if self.relay is not None:
                self.relay.stop()
            self.link.stop()

    def _pause_s(self) -> float:
        """Until the next look: the republish interval once connected, but never longer than the watchdog's."""
        pause = LISTS_REPUBLISH_S if self.link.connected else 0.5
        return min(pause, self.notifier.watchdog_s) if self.notifier.watchdog_s is not None else pause


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
    triggers = SnapshotTriggers(engine, lambda: link, time.time)
    ingest.after_events = triggers.after_events
    signer = None
    if config.config_push is not None:
        try:
            signer = ConfigSigner.load(
                config.config_push.key_file, config.config_push.delegation_file, root_key, now=time.time()
            )
        except ConfigSignerError as exc:
            raise HubSetupError(str(exc)) from exc
    worker = HubWorker(config, ingest, link, root_key, signer)
    if config.district is not None:
        try:
            worker.relay = build_relay(config.district, engine, worker.accept_list, holder=config.worker.id)
        except DistrictError as exc:
            raise HubSetupError(f"[district]: {exc.detail}") from exc
    return worker
