"""District lists flow down: the hub worker verifies them under the root key, keeps them, publishes them retained;
a terminal that connects later applies them, and a revocation issued while it is online reaches it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from device.app import DeviceApp, Signals, build
from device.camera.base import Frame
from device.camera.synthetic import Presentation, SyntheticCamera
from device.clock import SystemClock
from device.signal.fake import FakeGate, FakeIndicator
from district.passes import IssuedPass, issue
from hub.broker.dynsec import DynSecAdmin
from hub.config import validate as validate_hub
from hub.storage.devices import enrol
from hub.storage.presence import get_presence
from hub.worker import HubWorker
from hub.worker import build as build_hub
from protocol.documents import DocumentError
from protocol.gp1 import PassStatus
from protocol.keys import Alg, generate_private_key, public_key_pem, spki_der
from protocol.revocation import build_revocation_update
from protocol.trustlist import TrustedIssuer, build_trust_list
from tests.integration.rig import provision_terminal
from tests.services.mosquitto import MosquittoBroker

DEVICE = "scanner-07"
ROOT = generate_private_key(Alg.EDDSA)
ISSUER = generate_private_key(Alg.ES256)


class Ntp:
    def synchronized(self) -> bool:
        return True


class GatedCamera:
    """The synthetic feed, held back until the test opens the gate (so scans wait for the lists)."""

    def __init__(self, inner: SyntheticCamera, gate: threading.Event) -> None:
        self.inner, self.gate = inner, gate

    def read(self) -> Frame | None:
        return self.inner.read() if self.gate.is_set() else None

    def close(self) -> None:
        self.inner.close()


def wait_for(condition: Callable[[], bool], timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail("condition not met in time")
        time.sleep(0.05)


@pytest.fixture
def hub(broker: MosquittoBroker, tmp_path: Path) -> Iterator[tuple[HubWorker, threading.Event]]:
    (tmp_path / "hub.pass").write_text("hub-pass")
    (tmp_path / "root.pub.pem").write_bytes(public_key_pem(ROOT.public_key()))
    with DynSecAdmin(broker.host, broker.port, broker.admin_user, broker.admin_password) as admin:
        admin.ensure_all()
        admin.create_hub_user("hub", "hub-pass")
        admin.enrol_device(DEVICE, "device-pass")
    config = validate_hub(
        {
            "database": {"url": f"sqlite:///{tmp_path / 'hub.db'}"},
            "broker": {"host": broker.host, "port": broker.port, "password_file": str(tmp_path / "hub.pass")},
            "lists": {"root_key": str(tmp_path / "root.pub.pem")},
        }
    )
    worker = build_hub(config)
    stop = threading.Event()
    runner = threading.Thread(target=worker.run, args=(stop,), name="hub-worker")
    runner.start()
    wait_for(lambda: worker.link.connected)
    yield worker, stop
    stop.set()
    runner.join(timeout=30)


def terminal(
    broker: MosquittoBroker, tmp_path: Path, worker: HubWorker, script: list[Presentation]
) -> tuple[DeviceApp, threading.Event, FakeIndicator]:
    data_dir = tmp_path / "terminal"
    device_key = generate_private_key(Alg.EDDSA)
    enrol(worker.ingest.target, DEVICE, spki_der(device_key.public_key()), profile="scanner", now=time.time())
    config = provision_terminal(data_dir, broker, device_key, public_key_pem(ROOT.public_key()), device_id=DEVICE)
    clock, gate, indicator = SystemClock(), threading.Event(), FakeIndicator()
    app = build(
        config,
        clock=clock,
        ntp=Ntp(),
        camera_factory=lambda: GatedCamera(
            SyntheticCamera(script, clock=clock.monotonic, realtime=True, fps=30, sleep=time.sleep), gate
        ),
        signals=Signals(indicator, FakeGate()),
    )
    return app, gate, indicator


def pass_of(status: PassStatus = PassStatus.GREEN) -> IssuedPass:
    now = int(time.time())
    return issue(ISSUER, iss="CN-ZJ-HZ", status=status, iat=now - 60, exp=now + 86400)


def test_lists_reach_a_terminal_that_connects_later_and_a_revocation_while_online(
    broker: MosquittoBroker, tmp_path: Path, hub: tuple[HubWorker, threading.Event]
) -> None:
    worker, _stop = hub
    now = int(time.time())
    entry = TrustedIssuer.for_key(ISSUER.public_key(), "CN-ZJ-HZ", nbf=now - 3600, exp=now + 86400)
    revoked_early, revoked_later, fine = pass_of(), pass_of(), pass_of()
    assert worker.accept_list(build_trust_list(ROOT, seq=1, ts=now, issuers=[entry])) == "trust list 1"
    snapshot = build_revocation_update(ROOT, list_id="CN-SH-PD", seq=1, base=0, ts=now, add=[revoked_early.holder_rid])
    worker.accept_list(snapshot)
    with pytest.raises(DocumentError):  # a list signed by another key never goes down
        worker.accept_list(build_trust_list(generate_private_key(Alg.EDDSA), seq=2, ts=now, issuers=[entry]))

    script = [Presentation(p.qr_text, frames=8, gap=4) for p in (fine, revoked_early, revoked_later)]
    app, gate, _indicator = terminal(broker, tmp_path, worker, script)
    stop = threading.Event()
    runner = threading.Thread(target=app.run, args=(stop,), name="terminal")
    runner.start()
    try:
        revocations = app.lists.revocations
        assert revocations is not None
        wait_for(lambda: app.lists.trust.seq == 1 and revocations.seq == 1)
        issued_at = time.monotonic()
        delta = build_revocation_update(
            ROOT, list_id="CN-SH-PD", seq=2, base=1, ts=int(time.time()), add=[revoked_later.holder_rid]
        )
        worker.accept_list(delta)
        wait_for(lambda: revocations.seq == 2)
        propagation_s = time.monotonic() - issued_at
        gate.set()
        wait_for(lambda: len(list(app.store.events())) == 3)
        reasons = [event.event.reason for event in app.store.events()]
        assert reasons == ["ok", "revoked", "revoked"]
        assert propagation_s >= 0
    finally:
        stop.set()
        runner.join(timeout=30)


def test_a_terminal_that_missed_updates_catches_up_from_its_birth(
    broker: MosquittoBroker, tmp_path: Path, hub: tuple[HubWorker, threading.Event]
) -> None:
    """Offline through a snapshot and two deltas, the terminal cannot apply the retained delta (a gap); its birth
    says it holds nothing, the hub sends the snapshot and the deltas on its own down/lists, and its birth then
    reports the current version to the hub."""
    worker, _stop = hub
    now = int(time.time())
    entry = TrustedIssuer.for_key(ISSUER.public_key(), "CN-ZJ-HZ", nbf=now - 3600, exp=now + 86400)
    worker.accept_list(build_trust_list(ROOT, seq=1, ts=now, issuers=[entry]))
    revoked = [pass_of() for _ in range(3)]
    worker.accept_list(
        build_revocation_update(ROOT, list_id="CN-SH-PD", seq=1, base=0, ts=now, add=[revoked[0].holder_rid])
    )
    for seq in (2, 3):
        worker.accept_list(
            build_revocation_update(
                ROOT, list_id="CN-SH-PD", seq=seq, base=seq - 1, ts=now + seq, add=[revoked[seq - 1].holder_rid]
            )
        )
    app, _gate, _indicator = terminal(broker, tmp_path, worker, [])
    stop = threading.Event()
    runner = threading.Thread(target=app.run, args=(stop,), name="terminal")
    runner.start()
    try:
        revocations = app.lists.revocations
        assert revocations is not None
        wait_for(lambda: revocations.seq == 3)
        assert all(p.holder_rid in revocations for p in revoked)

        def reported() -> object:
            presence = get_presence(worker.ingest.target, DEVICE)
            return None if presence is None or presence.lists is None else presence.lists["revocations"]["CN-SH-PD"]

        wait_for(lambda: reported() == 3)
    finally:
        stop.set()
        runner.join(timeout=30)
