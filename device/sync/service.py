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
from device.commands import TerminalActions
from device.keys_rotation import HOLD_S, RESEND_S, KeyRotation, RotationFileError
from device.lists.source import StoredLists
from device.store import DeviceStore, StoreError
from device.sync.link import BrokerSettings, DeviceLink
from device.sync.outbox import Outbox, OutboxSettings
from protocol import topics
from protocol.documents import DocumentError, DocumentProblem
from protocol.identity import RotationAnswer, RotationError, RotationOutcome, parse_renumber, parse_rotation_answer
from protocol.keys import PublicKey
from protocol.media import MediaError, parse_progress
from protocol.messages import (
    Command,
    CommandMessage,
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
"""How often an idle sync thread pumps the outbox (it wakes earlier when an ack, an answer or a PUBACK arrives); also
how long a stop may wait."""
MAX_INBOX = 1000
CATCH_UP_EVERY_S = 60.0
REPORT_LISTS_AFTER_S = 2.0
"""Quiet time after the last list update before the birth is republished with the new versions."""
"""A terminal that cannot apply a list update asks for what it missed at most this often."""


@dataclass
class SyncCounters:
    """What the sync thread counted, for status and metrics."""

    refused_messages: int = 0
    lists_applied: int = 0
    lists_refused: int = 0
    commands: int = 0
    catch_up_requests: int = 0


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
        actions: TerminalActions | None = None,
        rotation: KeyRotation | None = None,
    ) -> None:
        self.device_id = device_id
        self.boot = boot
        self.device_key = rotation.current if rotation is not None else device_key
        self.rotation = rotation
        """The key file and a pending ``rotate_key`` (``device/keys_rotation.py``); None: the key cannot rotate."""
        self._rotation_began: float | None = None
        self._rotation_sent_at: float | None = None
        self._store: DeviceStore | None = None
        self.broker = broker
        self.outbox_settings = outbox_settings
        self.open_store = open_store
        self.lists = lists
        self.root_key = root_key
        self.list_id = list_id
        self.clock = clock
        self.birth_info = birth_info
        self.actions = actions
        self.counters = SyncCounters()
        self.inbox: queue.Queue[tuple[str, bytes]] = queue.Queue(MAX_INBOX)
        self.link: DeviceLink | None = None
        self.outbox: Outbox | None = None
        self._connected = threading.Event()
        self._wake = threading.Event()
        """Set when something arrived (a message, a PUBACK, a connect): the sync thread's pause ends early."""
        self._last_catch_up = -CATCH_UP_EVERY_S
        self._lists_changed_at: float | None = None

    def _renumber(self, args: dict[str, Any], outbox: Outbox) -> tuple[bool, str]:
        """The hub's answer to a replaced store: number the unacknowledged records above what it holds."""
        try:
            renumber = parse_renumber(args)
        except ValueError as exc:
            return False, str(exc)[:120]
        store = outbox.store
        if not store.store_id().startswith(renumber.store_tag):
            return False, "that renumbering is for another store of this terminal"
        try:
            shifts = store.renumber(renumber.bases)
        except StoreError as exc:
            return False, str(exc)[:120]
        outbox.reset()
        moved = ", ".join(f"{s.value} +{n}" for s, n in shifts.items() if n) or "nothing to move"
        log.info("store renumbered above the hub's records: %s", moved)
        return True, f"renumbered: {moved}"

    def _state(self, state: DeviceState, info: dict[str, Any] | None = None) -> bytes:
        return seal_state(StateMessage(self.device_id, state, self.boot, self.clock.now(), info or {}), self.device_key)

    def _enqueue(self, topic: str, payload: bytes) -> None:
        try:
            self.inbox.put_nowait((topic, payload))
            self._wake.set()
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
            settled=lambda: self.link is None or self.link.settled(),
        )  # fmt: skip
        self.outbox = outbox
        self._store = store
        self.link = self._make_link(store)
        self.link.start()
        try:
            busy = False
            while not stop.is_set():  # while there is work, no pause between rounds; else until something arrives
                if not busy:
                    self._pause()
                self.link.maintain()
                if self._connected.is_set():
                    self._connected.clear()
                    outbox.reset()
                    self._rotation_sent_at = None  # a pending rotation is sent again on every connect
                handled = self._drain(outbox)
                self._report_lists()
                self._rotation_step(outbox)
                pumped = 0 if self._holding() else outbox.pump(self.clock.clock.monotonic())
                busy = pumped > 0 or handled > 0
        finally:
            self.link.stop(clean=True)
            store.db.close()
            images = outbox.images
            log.info("images this run: %d chunks, %d bytes sent, %d resumed, %d restarted, %d completed",
                     images.chunks, images.bytes, images.resumed, images.restarted, images.completed)  # fmt: skip

    def _make_link(self, store: DeviceStore) -> DeviceLink:
        """The broker link; its last will is sealed now, with the current key."""
        return DeviceLink(
            self.broker,
            will=self._state(DeviceState.OFFLINE),
            birth=lambda: self._state(DeviceState.ONLINE, self.birth_info(store)),
            stopped=lambda: self._state(DeviceState.STOPPED),
            subscriptions=topics.device_subscriptions(self.device_id, (self.list_id,)),
            on_message=self._enqueue,
            on_connected=self._on_connected,
            on_published=self._wake.set,
        )

    # --- rotate_key (device/keys_rotation.py) --------------------------------------------------------------------

    def _holding(self) -> bool:
        """Record batches wait while a rotation is pending (at most ``HOLD_S``): the hub may swap keys any moment."""
        if self.rotation is None or self.rotation.pending is None:
            return False
        began = self._rotation_began
        return began is None or self.clock.clock.monotonic() - began < HOLD_S

    def _rotation_step(self, outbox: Outbox) -> None:
        """Send the pending rotation once the batches in flight (signed with the old key) are acknowledged, or their
        ack timed out (then they go again after the rotation, signed with the new key); again every ``RESEND_S``."""
        rotation = self.rotation
        if rotation is None or rotation.pending is None or self.link is None or not self.link.connected:
            return
        now = self.clock.clock.monotonic()
        if self._rotation_began is None:
            self._rotation_began = now
        in_flight = any(state.inflight for state in outbox.streams.values())
        if in_flight and now - self._rotation_began < self.outbox_settings.ack_timeout_s:
            return
        if self._rotation_sent_at is not None and now - self._rotation_sent_at < RESEND_S:
            return
        if self.link.publish(topics.result(self.device_id), rotation.message()):
            self._rotation_sent_at = now

    def _rotation_command(self, command: CommandMessage, outbox: Outbox) -> bool:
        """True when ``command`` was the hub's answer to a rotation, or a live ``rotate_key`` (answered by the
        rotation message, or by a result when the rotation could not begin)."""
        try:
            answer = parse_rotation_answer(command)
        except RotationError as exc:
            raise MessageError(str(exc)) from exc
        if answer is not None:
            self._rotation_answer(answer, outbox)
            return True
        if command.command is not Command.ROTATE_KEY or (
            command.expires is not None and command.expires < self.clock.now()
        ):
            return False
        refused = self._rotate(command.id)
        if refused is not None and self.link is not None:
            self.link.publish(topics.result(self.device_id), encode_result(refused))
        return True

    def _rotate(self, command_id: str) -> CommandResult | None:
        """A ``rotate_key`` command: the pending key is written first; its rotation message is the answer."""
        if self.rotation is None:
            return CommandResult(command_id, ok=False, detail="this terminal has no key file it can rotate")
        try:
            self.rotation.begin(command_id)
        except RotationFileError as exc:
            log.warning("key rotation %s not begun: %s", command_id, exc)
            return CommandResult(command_id, ok=False, detail=str(exc)[:120])
        log.info("key rotation %s begun: a new key is pending", command_id)
        self._rotation_began = self.clock.clock.monotonic()
        self._rotation_sent_at = None
        return None

    def _rotation_answer(self, answer: RotationAnswer, outbox: Outbox) -> None:
        """The hub swapped the key (make the new one current, reconnect so the last will is sealed with it) or
        refused the rotation (drop the pending key)."""
        rotation = self.rotation
        if rotation is None:
            return
        if answer.outcome is RotationOutcome.REFUSED:
            if rotation.abandon(answer.kid):
                self._rotation_began = self._rotation_sent_at = None
            return
        try:
            promoted = rotation.promote(answer.kid)
        except OSError as exc:  # the hub answers the next resend again
            log.warning("cannot make the new key current: %s; retrying on the next answer", exc.strerror)
            return
        if not promoted:
            return
        self.device_key = outbox.device_key = rotation.current
        self._rotation_began = self._rotation_sent_at = None
        if self.link is not None and self._store is not None:
            old, self.link = self.link, self._make_link(self._store)
            old.stop(clean=False)  # a DISCONNECT: the broker drops the old will (sealed with the retired key)
            self.link.start()

    def _pause(self) -> None:
        """Wait up to ``PUMP_S``, less when an ack, a progress answer, a PUBACK or a connect arrives."""
        self._wake.wait(PUMP_S)
        self._wake.clear()

    def _on_connected(self) -> None:
        self._connected.set()
        self._wake.set()

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
            except (MessageError, MediaError, TopicError) as exc:
                self.counters.refused_messages += 1
                log.warning("refused a message on %s: %s", topic, exc)

    def _handle(self, topic: str, payload: bytes, outbox: Outbox) -> None:
        parsed = topics.parse(topic)
        if parsed.kind == "down" and parsed.down is topics.Down.ACK:
            ack = parse_ack(payload)
            outbox.on_ack(ack)
            if ack.hub_time is not None:
                self.clock.hub_time(ack.hub_time)
        elif parsed.kind == "down" and parsed.down is topics.Down.MEDIA:
            outbox.on_progress(parse_progress(payload), self.clock.clock.monotonic())
        elif parsed.kind == "down" and parsed.down is topics.Down.CMD:
            self._command(payload, outbox)
        elif parsed.kind == "down" and parsed.down is topics.Down.CONFIG and self.actions is not None:
            taken = self.actions.take_config(payload)
            if taken is not None and self.link is not None:
                self.link.publish(topics.result(self.device_id), encode_result(taken))
        elif parsed.kind == "trustlist":
            self._apply_list(lambda: self.lists.trust.apply(payload))
        elif self.lists.revocations is not None and (
            (parsed.kind == "revocations" and parsed.list_id == self.list_id)
            or (parsed.kind == "down" and parsed.down is topics.Down.LISTS)
        ):
            revocations = self.lists.revocations
            self._apply_list(lambda: revocations.apply(parse_revocation_update(payload, self.root_key)))

    def _apply_list(self, apply: Callable[[], object]) -> None:
        try:
            apply()
        except DocumentError as exc:
            if exc.problem is DocumentProblem.NOT_NEWER:
                self.lists.mark_current(self.clock.now())  # the retained version is the one held: lists are current
                return
            if exc.problem is DocumentProblem.GAP:
                self._ask_catch_up()
            self.counters.lists_refused += 1
            log.warning("list update not applied: %s", exc)
            return
        self.counters.lists_applied += 1
        self.lists.mark_current(self.clock.now())
        self._lists_changed_at = self.clock.clock.monotonic()

    def _report_lists(self) -> None:
        """Once list updates stop arriving for a moment, publish the birth again so the hub sees the versions held."""
        changed = self._lists_changed_at
        if changed is None or self.link is None or self.clock.clock.monotonic() - changed < REPORT_LISTS_AFTER_S:
            return
        self._lists_changed_at = None
        self.link.republish_birth()

    def _ask_catch_up(self) -> None:
        """A list update that does not apply to the version held: the birth (which reports that version) is
        published again, and the hub answers on ``down/lists`` with what was missed. At most once a minute."""
        now = self.clock.clock.monotonic()
        if self.link is None or now - self._last_catch_up < CATCH_UP_EVERY_S:
            return
        self._last_catch_up = now
        self.counters.catch_up_requests += 1
        self.link.republish_birth()

    def _command(self, payload: bytes, outbox: Outbox) -> None:
        command = parse_command(payload)
        self.counters.commands += 1
        if self._rotation_command(command, outbox):
            return
        ok, detail = True, ""
        if command.expires is not None and command.expires < self.clock.now():
            ok, detail = False, "expired before it arrived"
        elif command.command is Command.RENUMBER:
            ok, detail = self._renumber(command.args, outbox)
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
        elif self.actions is not None:
            result = self.actions.handle(command)
            ok, detail = result.ok, result.detail
        else:
            ok, detail = False, f"{command.command.value} is not supported by this terminal"
        if self.link is not None:
            self.link.publish(topics.result(self.device_id), encode_result(CommandResult(command.id, ok, detail)))
