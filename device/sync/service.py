"""The terminal's sync thread: link, outbox, acks, lists and commands from the hub.

Everything arriving from the broker is queued by the paho thread and handled here, on the sync thread, which has its
own store connection; the scan loop never waits for the network.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ed25519

from device.clock import ClockTrust
from device.lists.source import StoredLists
from device.store import DeviceStore
from device.sync.link import BrokerSettings, DeviceLink
from device.sync.outbox import Outbox, OutboxSettings
from protocol import topics
from protocol.documents import DocumentError, DocumentProblem
from protocol.keys import PublicKey
from protocol.messages import (
    Command,
    CommandResult,
    DeviceState,
    MessageError,
    StateMessage,
    encode_result,
    parse_ack,
    parse_command,
    seal_state,
)
from protocol.revocation import parse_revocation_update
from protocol.topics import Stream, TopicError

log = logging.getLogger(__name__)

PUMP_S = 0.05
"""How often the sync thread pumps the outbox and handles what arrived."""
MAX_INBOX = 1000


@dataclass
class SyncCounters:
    """What the sync thread counted, for status and metrics."""

    refused_messages: int = 0
    lists_applied: int = 0
    lists_refused: int = 0
    commands: int = 0


class SyncService:
    """Owns the link and the outbox; runs on one thread until stopped."""

    def __init__(
        self,
        *,
        device_id: str,
        boot: bytes,
        device_key: ed25519.Ed25519PrivateKey,
        broker: BrokerSettings,
        outbox_settings: OutboxSettings,
        open_store: Callable[[], DeviceStore],
        lists: StoredLists,
        root_key: PublicKey,
        list_id: str,
        clock: ClockTrust,
        birth_info: Callable[[DeviceStore], dict[str, Any]],
    ) -> None:
        self.device_id = device_id
        self.boot = boot
        self.device_key = device_key
        self.broker = broker
        self.outbox_settings = outbox_settings
        self.open_store = open_store
        self.lists = lists
        self.root_key = root_key
        self.list_id = list_id
        self.clock = clock
        self.birth_info = birth_info
        self.counters = SyncCounters()
        self.inbox: queue.Queue[tuple[str, bytes]] = queue.Queue(MAX_INBOX)
        self.link: DeviceLink | None = None
        self.outbox: Outbox | None = None
        self._connected = threading.Event()

    def _state(self, state: DeviceState, info: dict[str, Any] | None = None) -> bytes:
        return seal_state(StateMessage(self.device_id, state, self.boot, self.clock.now(), info or {}), self.device_key)

    def _enqueue(self, topic: str, payload: bytes) -> None:
        try:
            self.inbox.put_nowait((topic, payload))
        except queue.Full:
            self.counters.refused_messages += 1
            log.warning("inbox full: dropped a message on %s (it will be sent again)", topic)

    def run(self, stop: threading.Event) -> None:
        """The sync thread's body."""
        store = self.open_store()
        outbox = Outbox(
            store, lambda topic, data: self.link is not None and self.link.publish(topic, data),
            device_id=self.device_id, device_key=self.device_key, boot=self.boot,
            settings=self.outbox_settings, now=self.clock.clock.monotonic(),
        )  # fmt: skip
        self.outbox = outbox
        self.link = DeviceLink(
            self.broker,
            will=self._state(DeviceState.OFFLINE),
            birth=lambda: self._state(DeviceState.ONLINE, self.birth_info(store)),
            stopped=lambda: self._state(DeviceState.STOPPED),
            subscriptions=topics.device_subscriptions(self.device_id, (self.list_id,)),
            on_message=self._enqueue,
            on_connected=self._connected.set,
        )
        self.link.start()
        try:
            busy = False
            while not stop.wait(0 if busy else PUMP_S):  # while there is work, no pause between rounds
                self.link.maintain()
                if self._connected.is_set():
                    self._connected.clear()
                    outbox.reset()
                handled = self._drain(outbox)
                busy = outbox.pump(self.clock.clock.monotonic()) > 0 or handled > 0
        finally:
            self.link.stop(clean=True)
            store.db.close()

    def _drain(self, outbox: Outbox) -> int:
        handled = 0
        while True:
            try:
                topic, payload = self.inbox.get_nowait()
            except queue.Empty:
                return handled
            handled += 1
            try:
                self._handle(topic, payload, outbox)
            except (MessageError, TopicError) as exc:
                self.counters.refused_messages += 1
                log.warning("refused a message on %s: %s", topic, exc)

    def _handle(self, topic: str, payload: bytes, outbox: Outbox) -> None:
        parsed = topics.parse(topic)
        if parsed.kind == "down" and parsed.down is topics.Down.ACK:
            ack = parse_ack(payload)
            outbox.on_ack(ack)
            if ack.hub_time is not None:
                self.clock.hub_time(ack.hub_time)
        elif parsed.kind == "down" and parsed.down is topics.Down.CMD:
            self._command(payload, outbox)
        elif parsed.kind == "trustlist":
            self._apply_list(lambda: self.lists.trust.apply(payload))
        elif parsed.kind == "revocations" and parsed.list_id == self.list_id and self.lists.revocations is not None:
            revocations = self.lists.revocations
            self._apply_list(lambda: revocations.apply(parse_revocation_update(payload, self.root_key)))

    def _apply_list(self, apply: Callable[[], object]) -> None:
        try:
            apply()
        except DocumentError as exc:
            if exc.problem is DocumentProblem.NOT_NEWER:
                self.lists.mark_current(self.clock.now())  # the retained version is the one held: lists are current
                return
            self.counters.lists_refused += 1
            log.warning("list update not applied: %s", exc)
            return
        self.counters.lists_applied += 1
        self.lists.mark_current(self.clock.now())

    def _command(self, payload: bytes, outbox: Outbox) -> None:
        command = parse_command(payload)
        self.counters.commands += 1
        ok, detail = True, ""
        if command.expires is not None and command.expires < self.clock.now():
            ok, detail = False, "expired before it arrived"
        elif command.command is Command.SYNC_NOW:
            outbox.reset()
        elif command.command is Command.RESEND:
            try:
                stream = Stream(str(command.args.get("stream", "events")))
                first, last = int(command.args["from"]), int(command.args["to"])
            except (KeyError, ValueError, TypeError):
                ok, detail = False, "resend needs stream, from and to"
            else:
                outbox.request_resend(stream, first, last)
        else:
            ok, detail = False, f"{command.command.value} is not supported by this firmware yet"
        if self.link is not None:
            self.link.publish(topics.result(self.device_id), encode_result(CommandResult(command.id, ok, detail)))
