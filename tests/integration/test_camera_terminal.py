"""The camera terminal end to end: a rendered scene of people walking past, a real mosquitto with broker-enforced
identity and a hub worker on SQLite. The terminal takes motion snapshots, the broker is stopped while an image is
half way to the hub and started again, and every snapshot arrives whole (its SHA-256 checked at the hub, the transfer
resumed, not restarted); once the hub has confirmed them the terminal keeps only what its budget allows."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest
import sqlalchemy as sa

from device.app import DeviceApp, Signals, build
from device.camera.scene import SceneCamera
from device.clock import SystemClock
from device.config import validate
from device.signal.fake import FakeIndicator
from device.snapshots.service import SnapshotService
from device.store import DeviceStore, open_database
from hub.broker.dynsec import DynSecAdmin
from hub.ingest import Ingest
from hub.mqtt.link import HubBrokerSettings, HubLink
from hub.storage import media
from hub.storage.devices import enrol
from hub.storage.engine import create_engine
from hub.storage.migrate import upgrade
from hub.storage.models import Image
from protocol.keys import Alg, generate_private_key, public_key_pem, spki_der
from protocol.topics import Stream
from tests.integration.rig import provision_terminal
from tests.services.mosquitto import MosquittoBroker

DEVICE = "cam-01"
ROOT = generate_private_key(Alg.EDDSA)
WIDTH, HEIGHT = 1280, 720
MAX_COUNT = 3
"""The terminal's snapshot budget: fewer than the walkers cause, so retention has work once the hub confirms."""
WAIT_S = 120.0
OUTAGE_S = 1.5


class Ntp:
    def synchronized(self) -> bool:
        return True


def wait_for(condition: Callable[[], bool], what: str, timeout_s: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"not reached within {timeout_s:.0f} s: {what}")
        time.sleep(0.02)


@dataclass
class Rig:
    broker: MosquittoBroker
    engine: sa.Engine
    hub: HubLink
    app: DeviceApp
    feed: SceneCamera
    stop: threading.Event
    runner: threading.Thread

    def observer(self) -> DeviceStore:
        """The terminal's store through a connection of the test's own (the app's belongs to its thread)."""
        return DeviceStore(open_database(self.app.config.device.data_dir / "device.db"))

    def terminal(self) -> tuple[int, int, int]:
        """Snapshots taken so far, held now, and images not yet confirmed by the hub."""
        store = self.observer()
        try:
            taken = store.counts()[Stream.SNAPSHOTS.value]["next_seq"] - 1
            return taken, len(store.snapshots(limit=10_000)), store.image_backlog()[0]
        finally:
            store.db.close()

    def partial_at_hub(self) -> tuple[str, int, int] | None:
        """An image the hub holds part of: (sha256, bytes held, size)."""
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(Image.sha256, Image.have, Image.size).where(
                    Image.device_id == DEVICE, Image.have > 0, Image.complete.is_(False)
                )
            ).first()
        return None if row is None else (str(row[0]), int(row[1]), int(row[2]))


def start_hub(broker: MosquittoBroker, engine: sa.Engine) -> HubLink:
    holder: list[HubLink] = []
    ingest = Ingest(
        engine,
        lambda topic, data: holder[0].publish(topic, data),  # noqa: PLW0108 - the link is made after the ingest
        clock=time.time,
        monotonic=time.monotonic,
    )
    link = HubLink(
        HubBrokerSettings(broker.host, broker.port, "hub", "hub-pass", client_id="hub-1", share_group="ingest"),
        ingest.handle,
    )
    holder.append(link)
    link.start()
    return link


@pytest.fixture
def rig(broker: MosquittoBroker, tmp_path: Path) -> Iterator[Rig]:
    device_key = generate_private_key(Alg.EDDSA)
    with DynSecAdmin(broker.host, broker.port, broker.admin_user, broker.admin_password) as admin:
        admin.ensure_all()
        admin.enrol_device(DEVICE, "device-pass")
        admin.create_hub_user("hub", "hub-pass")
    engine = create_engine(f"sqlite:///{tmp_path / 'hub.db'}")
    upgrade(engine)
    enrol(engine, DEVICE, spki_der(device_key.public_key()), profile="camera", now=time.time(), site="SH-PD-1")
    hub = start_hub(broker, engine)
    scanner = provision_terminal(
        tmp_path / "terminal", broker, device_key, public_key_pem(ROOT.public_key()), device_id=DEVICE,
        sync={"ack_timeout_s": 3.0, "rate_bytes_s": 192 * 1024},  # an image takes a second or two to send
    )  # fmt: skip
    raw = scanner.model_dump(mode="json", exclude_none=True)
    raw["device"]["profile"] = "camera"
    raw["camera"] = {"kind": "scene", "width": WIDTH, "height": HEIGHT}
    raw["snapshots"] = {
        "camera": "gate-1",
        "periodic_s": 0,
        "jpeg_quality": 95,
        "max_width": WIDTH,
        "motion": {"min_interval_s": 1.0},
        "budget": {"max_count": MAX_COUNT},
        "stall_s": 3600,
        "prune_every_s": 0.5,
    }
    config = validate(raw)
    clock = SystemClock()
    feed = SceneCamera(width=WIDTH, height=HEIGHT, seed=11, walkers=3, walk_frames=30, gap_frames=15,
                       realtime=True, fps=15, clock=clock.monotonic, sleep=time.sleep)  # fmt: skip
    app = build(config, clock=clock, ntp=Ntp(), camera_factory=lambda: feed, signals=Signals(FakeIndicator(), None))
    stop = threading.Event()
    runner = threading.Thread(target=app.run, args=(stop,), name="camera-terminal")
    yield Rig(broker, engine, hub, app, feed, stop, runner)
    stop.set()
    if runner.is_alive():
        runner.join(timeout=30)
    hub.stop()
    engine.dispose()


def test_motion_snapshots_reach_the_hub_whole_across_a_cut_mid_image_and_the_budget_holds(rig: Rig) -> None:
    assert isinstance(rig.app.loop, SnapshotService)
    rig.runner.start()
    cut: tuple[str, int, int] | None = None
    for _attempt in range(3):  # the image may complete between the look and the stop: then cut the next one
        wait_for(lambda: rig.partial_at_hub() is not None, "the hub holds part of an image")
        rig.broker.stop()  # the network is gone
        cut = rig.partial_at_hub()  # nothing reaches the hub now: is it still in the middle of that image?
        time.sleep(OUTAGE_S)  # bounded: the terminal keeps taking snapshots offline meanwhile
        rig.broker.start()
        if cut is not None:
            break
    assert cut is not None and 0 < cut[1] < cut[2], "the broker never stopped in the middle of an image"

    def all_confirmed() -> bool:
        taken, _held, unconfirmed = rig.terminal()
        return rig.feed.finished and unconfirmed == 0 and media.media_counts(rig.engine).snapshots == taken

    wait_for(all_confirmed, "every snapshot confirmed by the hub")
    wait_for(lambda: rig.terminal()[1] <= MAX_COUNT, "the terminal pruned down to its budget")
    rig.stop.set()
    rig.runner.join(timeout=30)
    assert not rig.runner.is_alive()

    taken, held, _ = rig.terminal()
    assert taken > MAX_COUNT >= held
    snapshots = media.list_snapshots(rig.engine, device=DEVICE, limit=500)
    assert sorted(s.seq for s in snapshots) == list(range(1, taken + 1))
    for snapshot in snapshots:
        assert snapshot.trigger == "motion" and snapshot.camera == "gate-1"
        assert snapshot.image.complete
        data = media.get_image(rig.engine, snapshot.image.sha256)
        assert data is not None and hashlib.sha256(data).hexdigest() == snapshot.image.sha256
        image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
        assert image is not None and image.shape == (HEIGHT, WIDTH, 3)
    cut_view = media.image_info(rig.engine, cut[0])
    assert cut_view is not None and cut_view.complete
    assert media.media_counts(rig.engine).image_restarts == 0  # resumed where it stopped, never sent again from 0
    status = rig.app.loop.status()  # what the status document carries (the file is refreshed every 10 s)
    assert status["taken"]["motion"] == taken and status["unstored"] == 0
    assert not status["budget"]["pressure"] and status["budget"]["pruned"] >= taken - MAX_COUNT
