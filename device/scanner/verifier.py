"""The terminal's side of the decision: the lists it holds, its clock, and the staleness rule, around
``protocol.decision.decide``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from device.clock import ClockTrust
from protocol.decision import ListFreshness, Verdict, decide
from protocol.revocation import RevocationView
from protocol.trustlist import TrustList


@dataclass(frozen=True, slots=True)
class ListsSnapshot:
    """The lists one decision is answered from (one version of each)."""

    trust: TrustList
    revocations: RevocationView
    current_at: float | None
    """When the terminal last heard that its lists are the current ones (None: never)."""


class ListsSource(Protocol):
    """Whatever holds the lists (the on-disk stores, or a fixed snapshot in tests)."""

    def snapshot(self) -> ListsSnapshot:
        """The lists as of now."""


class FixedLists:
    """A lists source that always answers the same snapshot."""

    def __init__(self, snapshot: ListsSnapshot) -> None:
        self._snapshot = snapshot

    def snapshot(self) -> ListsSnapshot:
        """The fixed snapshot."""
        return self._snapshot


class Verifier:
    """Decides scanned texts with the terminal's lists, clock and staleness rule."""

    def __init__(self, lists: ListsSource, clock: ClockTrust, max_list_age_s: float) -> None:
        self.lists = lists
        self.clock = clock
        self.max_list_age_s = max_list_age_s

    def decide(self, text: str) -> Verdict:
        """One decision, as of now."""
        lists = self.lists.snapshot()
        now = self.clock.now()
        # Lists never confirmed current are as stale as can be: a pass becomes a check.
        age = now - lists.current_at if lists.current_at is not None else float("inf")
        return decide(
            text,
            trust=lists.trust,
            revocations=lists.revocations,
            now=now,
            clock=self.clock.state(),
            freshness=ListFreshness(age_s=age, max_age_s=self.max_list_age_s),
        )
