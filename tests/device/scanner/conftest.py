"""A small district and a scan loop wired with fakes, for the scanner's tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
import zxingcpp
from sqlite_utils import Database

from device.clock import ClockTrust, FakeClock
from device.metrics import DeviceMetrics
from device.scanner.loop import ScanLoop
from device.scanner.verifier import FixedLists, ListsSnapshot, Verifier
from device.signal.fake import FakeGate, FakeIndicator
from device.store import DeviceStore
from district.passes import issue, qr_image
from protocol.gp1 import PassStatus
from protocol.keys import Alg, generate_private_key
from protocol.revocation import HeldLists, build_revocation_update, parse_revocation_update
from protocol.trustlist import TrustedIssuer, build_trust_list, parse_trust_list

NOW = 1_800_000_000.0
ISSUER = generate_private_key(Alg.ES256)
ROOT = generate_private_key(Alg.EDDSA)


@dataclass
class Frame:
    image: Any
    captured_at: float


@dataclass
class ListCamera:
    """Frames queued by the test; each read stamps capture time from the fake clock."""

    clock: FakeClock
    images: list[Any] = field(default_factory=list)

    def read(self) -> Frame | None:
        if not self.images:
            return None
        self.clock.advance(1 / 30)
        return Frame(self.images.pop(0), self.clock.monotonic())


@dataclass
class ZxingDecoder:
    """Bare zxing-cpp, enough to drive the loop in unit tests."""

    calls: int = 0

    def decode(self, image: Any) -> Any:  # noqa: ANN401
        self.calls += 1

        @dataclass
        class Result:
            texts: list[str]

        return Result([b.text for b in zxingcpp.read_barcodes(image)])


class Ntp:
    def synchronized(self) -> bool:
        return True


def pass_text(status: PassStatus = PassStatus.GREEN, **kw: Any) -> str:  # noqa: ANN401
    return issue(ISSUER, iss="CN-ZJ-HZ", status=status, iat=int(NOW - 3600), **kw).qr_text


def frame_of(text: str) -> Any:  # noqa: ANN401
    code = qr_image(text, scale=4)
    canvas = np.full((480, 640), 200, np.uint8)
    canvas[40 : 40 + code.shape[0], 60 : 60 + code.shape[1]] = code
    return canvas


EMPTY = np.full((480, 640), 200, np.uint8)


@dataclass
class Rig:
    loop: ScanLoop
    camera: ListCamera
    indicator: FakeIndicator
    gate: FakeGate
    store: DeviceStore
    clock: FakeClock
    metrics: DeviceMetrics


@pytest.fixture
def rig() -> Rig:
    clock = FakeClock(now=NOW)
    store = DeviceStore(Database(memory=True))
    trust = parse_trust_list(
        build_trust_list(
            ROOT,
            seq=1,
            ts=int(NOW),
            issuers=[
                TrustedIssuer.for_key(ISSUER.public_key(), "CN-ZJ-HZ", nbf=int(NOW) - 10**6, exp=int(NOW) + 10**6)
            ],
        ),
        ROOT.public_key(),
    )
    lists = FixedLists(ListsSnapshot(trust, HeldLists(), current_at=NOW - 60))
    clock_trust = ClockTrust(clock, store, Ntp())
    metrics = DeviceMetrics()
    camera, indicator, gate = ListCamera(clock), FakeIndicator(), FakeGate()
    loop = ScanLoop(
        camera=camera,
        decoder=ZxingDecoder(),
        verifier=Verifier(lists, clock_trust, max_list_age_s=72 * 3600),
        indicator=indicator,
        gate=gate,
        store=store,
        boot_id=store.start_boot(),
        clock=clock_trust,
        metrics=metrics,
        hold_off_s=3.0,
        gate_open_ms=2500,
    )
    return Rig(loop, camera, indicator, gate, store, clock, metrics)


def revoke(rig: Rig, text_rid: bytes) -> None:
    """Give the rig's verifier a revocation list holding one rid."""
    held = HeldLists().apply(
        parse_revocation_update(
            build_revocation_update(ROOT, list_id="L1", seq=1, base=0, ts=int(NOW), add=[text_rid]),
            ROOT.public_key(),
        )
    )
    snapshot = rig.loop.verifier.lists.snapshot()
    rig.loop.verifier.lists = FixedLists(ListsSnapshot(snapshot.trust, held, snapshot.current_at))
