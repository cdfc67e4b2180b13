"""The relay loop: deliver the outbox in order per device, keep the district's device keys current, pull the lists.

One step (``RelayService.step``) does, under the relay lease (one hub worker at a time relays):

1. registers the keys of devices the district does not know yet, and notifies decommissions once a retired
   device's last batch is delivered;
2. delivers due batches oldest first. A device whose batch failed in this step sends nothing more in it (its
   later batches never overtake an earlier one); a batch of a device the district does not know registers the
   device first ("register on first relay"). 2xx: delivered. 5xx, timeouts, refused connections, garbage: retried
   after a capped exponential backoff with full jitter, and the whole relay pauses the same way while the district
   is unreachable. Other 4xx: parked with the reason, counted, shown to operators;
3. every ``pull_interval_s``: asks the district for its list versions and fetches what is newer than what the hub
   holds; each document goes to ``accept_list`` (the worker's: verify under the root key, store, publish retained).

Time comes from the injected ``clock`` (the outbox's times), randomness from the injected ``rng``; the loop waits on
the ``stop`` event, so tests drive a simulated day with a fake clock and no sleeping.
"""

from __future__ import annotations

import logging
import random
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from hub.relay.client import DistrictClient, DistrictError, Outcome, Reply
from hub.storage import relay
from hub.storage.engine import Target
from hub.storage.errors import StorageError
from hub.storage.ingest import count_refusal
from hub.storage.lists import current_revocation, current_trust_list
from protocol.documents import DocumentError

log = logging.getLogger(__name__)

POLL_S = 1.0
"""How often the loop looks for due work."""
BATCH_LIMIT = 200
"""Batches read from the outbox per step."""
REGISTER_LIMIT = 100
PULL_INTERVAL_S = 300.0
PULL_RETRY_MAX_S = 300.0
LEASE_TTL_S = 30.0
"""A relay that stops renewing its lease (crashed) hands over to another worker after this long."""
PAUSE_BASE_S = 2.0
PAUSE_MAX_S = 300.0
"""While the district is unreachable the relay pauses, doubling from the base up to this cap (full jitter)."""
_TRANSPORT = frozenset({"unreachable", "timeout"})


@dataclass(frozen=True)
class RelaySettings:
    """How the relay paces itself."""

    holder: str = "hub-1"
    """This worker's id: the lease's holder."""
    poll_s: float = POLL_S
    pull_interval_s: float = PULL_INTERVAL_S
    batch_limit: int = BATCH_LIMIT
    register_limit: int = REGISTER_LIMIT
    lease_ttl_s: float = LEASE_TTL_S


@dataclass(frozen=True, slots=True)
class StepResult:
    """What one step did."""

    leader: bool
    delivered: int = 0
    retried: int = 0
    parked: int = 0
    registered: int = 0
    lists_accepted: int = 0


def full_jitter(rng: random.Random, cap_s: float) -> float:
    """A delay drawn uniformly from [0, cap_s] ("full jitter": retries of many hubs do not arrive together)."""
    return rng.uniform(0.0, cap_s)


class RelayService:
    """The district relay of one hub worker."""

    def __init__(
        self,
        target: Target,
        client: DistrictClient,
        *,
        accept_list: Callable[[bytes], str],
        clock: Callable[[], float],
        rng: random.Random | None = None,
        settings: RelaySettings | None = None,
    ) -> None:
        self.target = target
        self.client = client
        self.accept_list = accept_list
        self.clock = clock
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self.settings = settings or RelaySettings()
        self.counters: Counter[str] = Counter()
        self._paused_until = 0.0
        self._failures = 0
        self._next_pull = 0.0
        self._pull_failures = 0
        self._lease_until = 0.0
        self._stop = threading.Event()

    # --- the loop -------------------------------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Relay until ``stop`` is set; then hand the lease over."""
        self._stop = stop
        try:
            while not stop.is_set():
                try:
                    self.step()
                except Exception:  # the relay thread must outlive any one bad step
                    log.exception("district relay step failed")
                if stop.wait(self.settings.poll_s):
                    break
        finally:
            try:
                relay.release_lease(self.target, self.settings.holder)
            except StorageError as exc:
                log.warning("could not release the relay lease: %s", exc)

    def step(self) -> StepResult:
        """One round of registrations, deliveries and (when due) a list pull."""
        now = self.clock()
        if not self._lead(now):
            return StepResult(leader=False)
        counts: Counter[str] = Counter()
        if now >= self._paused_until:
            self._register_devices(counts)
            self._deliver(counts)
            self._notify_decommissions(counts)
        if self.clock() >= self._next_pull:
            counts["lists"] += self.pull_lists()
        self.counters.update(counts)
        return StepResult(
            leader=True,
            delivered=counts["delivered"],
            retried=counts["retried"],
            parked=counts["parked"],
            registered=counts["registered"],
            lists_accepted=counts["lists"],
        )

    def _lead(self, now: float) -> bool:
        """Hold the relay lease: renewed in the database once half of it has run out."""
        if now < self._lease_until - self.settings.lease_ttl_s / 2:
            return True
        ttl = self.settings.lease_ttl_s
        if relay.acquire_lease(self.target, self.settings.holder, now=now, ttl_s=ttl):
            self._lease_until = now + ttl
            return True
        self._lease_until = 0.0
        return False

    def stats(self) -> relay.RelayStats:
        """Queue depth, oldest age, parked count."""
        return relay.relay_stats(self.target, now=self.clock())

    # --- pacing ---------------------------------------------------------------------------------------------------

    def _reachable(self, reply: Reply) -> bool:
        """Note whether the district answered; pause the relay (capped, jittered) while it does not."""
        if reply.outcome is Outcome.RETRY and (reply.reason in _TRANSPORT or (reply.status or 0) >= 500):
            self._failures += 1
            self.counters["district_unreachable"] += 1
            cap = min(PAUSE_MAX_S, PAUSE_BASE_S * 2.0 ** min(self._failures - 1, 30))
            self._paused_until = self.clock() + full_jitter(self.rng, cap)
            return False
        self._failures = 0
        return True

    def _retry_after(self, attempts: int) -> float:
        return full_jitter(self.rng, relay.relay_backoff_s(attempts + 1))

    # --- devices --------------------------------------------------------------------------------------------------

    def _register(self, device: relay.UpstreamDevice, counts: Counter[str]) -> Reply:
        reply = self.client.register(device.device_id, device.public_key, device.profile)
        now = self.clock()
        if reply.outcome is Outcome.DONE:
            relay.mark_registered(self.target, device.device_id, now=now)
            counts["registered"] += 1
        else:
            attempts = relay.device_attempts(self.target, device.device_id)
            relay.device_call_failed(
                self.target, device.device_id, now=now, error=reply.reason, backoff_s=self._retry_after(attempts)
            )
            if reply.outcome is Outcome.PARK:
                log.warning("the district refuses to register %s: %s", device.device_id, reply.reason)
                self._count_refusal(f"relay_register_{reply.reason}", device.device_id)
        self._reachable(reply)
        return reply

    def _register_devices(self, counts: Counter[str]) -> None:
        for device in relay.devices_to_register(self.target, now=self.clock(), limit=self.settings.register_limit):
            if self._stop.is_set() or self.clock() < self._paused_until:
                return
            self._register(device, counts)

    def _notify_decommissions(self, counts: Counter[str]) -> None:
        for device_id in relay.devices_to_decommission(
            self.target, now=self.clock(), limit=self.settings.register_limit
        ):
            if self._stop.is_set() or self.clock() < self._paused_until:
                return
            reply = self.client.decommission(device_id)
            if reply.outcome is Outcome.DONE:
                relay.mark_decommission_sent(self.target, device_id, now=self.clock())
                counts["decommissioned"] += 1
            else:
                attempts = relay.device_attempts(self.target, device_id)
                relay.device_call_failed(
                    self.target, device_id, now=self.clock(), error=reply.reason, backoff_s=self._retry_after(attempts)
                )
            self._reachable(reply)

    # --- batches --------------------------------------------------------------------------------------------------

    def _deliver(self, counts: Counter[str]) -> None:
        due = relay.due_relay_batches(self.target, limit=self.settings.batch_limit, now=self.clock())
        if not due:
            return
        registered = relay.registered_devices(self.target)
        held_back: set[str] = set()
        for item in due:
            if self._stop.is_set() or self.clock() < self._paused_until:
                return
            if item.device_id in held_back:
                continue
            if item.device_id not in registered:
                if not self._register_for(item, counts):
                    held_back.add(item.device_id)
                    continue
                registered.add(item.device_id)
            reply = self.client.post_batch(item.device_id, item.stream, item.idempotency_key, item.cose)
            if not self._handle(item, reply, counts):
                held_back.add(item.device_id)

    def _register_for(self, item: relay.RelayItem, counts: Counter[str]) -> bool:
        """Register the device of ``item`` now; False (and the item parked or delayed) when that failed."""
        device = relay.upstream_device(self.target, item.device_id)
        if device is None:  # not registrable (a pending device cannot have batches; defensive)
            relay.mark_failed(self.target, item.id, now=self.clock(), error="device not registrable")
            return False
        reply = self._register(device, counts)
        if reply.outcome is Outcome.DONE:
            return True
        if reply.outcome is Outcome.PARK:
            self._park(item, reply, counts)
            return True  # parked: the device's later batches meet the same refusal, each parked in turn
        relay.mark_failed(
            self.target, item.id, now=self.clock(), error=reply.reason, backoff_s=self._retry_after(item.attempts)
        )
        counts["retried"] += 1
        return False

    def _handle(self, item: relay.RelayItem, reply: Reply, counts: Counter[str]) -> bool:
        """Record the outcome of one delivery; False when the device's later batches must wait."""
        now = self.clock()
        self._reachable(reply)
        if reply.outcome is Outcome.DONE:
            relay.mark_delivered(self.target, item.id, now=now)
            counts["delivered"] += 1
            return True
        if reply.outcome is Outcome.PARK:
            self._park(item, reply, counts)
            return True
        if reply.outcome is Outcome.UNREGISTERED:
            relay.mark_unregistered(self.target, item.device_id, now=now)
        relay.mark_failed(self.target, item.id, now=now, error=reply.reason, backoff_s=self._retry_after(item.attempts))
        counts["retried"] += 1
        return False

    def _park(self, item: relay.RelayItem, reply: Reply, counts: Counter[str]) -> None:
        log.warning("the district refused batch %s of %s for good (%s): parked", item.id, item.device_id, reply.reason)
        relay.park(
            self.target, item.id, reason=reply.reason, now=self.clock(), http_status=reply.status, detail=reply.detail
        )
        self._count_refusal(f"relay_{reply.reason}", item.device_id)
        counts["parked"] += 1

    def _count_refusal(self, reason: str, device_id: str | None) -> None:
        code = "".join(c for c in reason.lower() if c.isalnum() or c == "_")[:32] or "relay_refused"
        try:
            count_refusal(self.target, code, device_id, now=self.clock())
        except StorageError as exc:
            log.warning("could not count a refusal: %s", exc)

    # --- lists ----------------------------------------------------------------------------------------------------

    def pull_lists(self) -> int:
        """Fetch what the district holds newer than the hub and hand each document to ``accept_list``."""
        accepted = 0
        try:
            trust, revocations = self.client.lists()
            held = current_trust_list(self.target)
            if trust is not None and (held is None or trust > held.seq):
                accepted += self._accept(self.client.trust_list(), "trust list")
            for list_id, seq in sorted(revocations.items()):
                current = current_revocation(self.target, list_id)
                since = current.seq if current is not None else 0
                if seq <= since:
                    continue
                for version in self.client.revocation_chain(list_id, since):
                    if self._stop.is_set():
                        break
                    if not self._accept(self.client.revocation_update(list_id, version), f"{list_id}/{version}"):
                        break
                    accepted += 1
        except DistrictError as exc:
            self._pull_failures += 1
            delay = min(self.settings.pull_interval_s, PULL_RETRY_MAX_S, PAUSE_BASE_S * 2.0**self._pull_failures)
            self._next_pull = self.clock() + full_jitter(self.rng, delay)
            self.counters[f"pull_{exc.reason}"] += 1
            log.info("list pull from the district failed: %s", exc.reason)
            return accepted
        self._pull_failures = 0
        self._next_pull = self.clock() + self.settings.pull_interval_s
        return accepted

    def _accept(self, document: bytes, what: str) -> int:
        try:
            result = self.accept_list(document)
        except (DocumentError, StorageError) as exc:
            reason = exc.problem.value if isinstance(exc, DocumentError) else "storage"
            log.warning("a list from the district was refused (%s): %s", what, reason)
            self.counters["lists_refused"] += 1
            self._count_refusal(f"district_list_{reason}", None)
            return 0
        log.info("accepted from the district: %s", result)
        self.counters["lists_accepted"] += 1
        return 1
