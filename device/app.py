"""The terminal's composition root: builds config, store, lists, clock, camera, decoder and signals, wires them into
the scan loop, and runs it with its background work until told to stop.

Nothing else constructs these parts, and nothing happens at import time. Tests hand in fakes for any part.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ed25519

from device.camera.base import Camera, CameraError
from device.clock import Clock, ClockTrust, NtpStatus, SystemClock, TimesyncdStatus
from device.commands import ExitRequest, TerminalActions
from device.config import CameraSection, DeviceConfig, SignalSection
from device.config_push import load_pushed
from device.gps.base import Gps
from device.handheld.runtime import HandheldRuntime, HandheldSetupError, open_handheld
from device.keys_rotation import KeyRotation
from device.lists import REVOCATIONS_SUBDIR, TRUST_SUBDIR
from device.lists.errors import StoreError as ListStoreError
from device.lists.files import write_atomic
from device.lists.revocation_store import RevocationStore
from device.lists.source import StoredLists
from device.lists.trust_store import TrustStore
from device.metrics import DeviceMetrics, MetricsServer
from device.scanner.loop import IDLE_WAIT_S, ScanLoop
from device.scanner.verifier import Verifier
from device.signal.base import Gate, Indicator, SignalError
from device.signal.serial_board import SerialBoard
from device.snapshots.service import SnapshotService
from device.snapshots.service import from_section as snapshot_parts
from device.status import collect
from device.store import DeviceStore, Retention, open_database
from device.sync.link import BrokerSettings
from device.sync.outbox import OutboxSettings
from device.sync.service import SyncService
from device.systemd import Notifier
from device.update.installer import current_version
from device.vision.decoder import Decoder
from protocol.keys import KeyFormatError, PublicKey, load_private_key_pem, load_public_key_pem
from protocol.topics import Stream
from protocol.trustlist import TrustList

log = logging.getLogger(__name__)

HOUSEKEEPING_S = 10.0
"""How often clock trust is persisted, retention applied, gauges and the status file refreshed."""
CAMERA_RETRY_S = 2.0
STOP_DRAIN_S = 15.0
"""On a clean stop, how long the sync thread may go on sending what is unacknowledged (scanning has stopped)."""
STOP_DRAIN_POLL_S = 0.1
"""How long the loop waits before reopening a camera that failed."""
STATUS_FILE = "status.json"
FIRMWARE_VERSION = "0.1.0"
"""Reported when the terminal does not run from an installed release (a development checkout)."""
RELEASE_ROOT = Path("/opt/gridpass")
"""Where ``gridpass device update`` installs releases; the running one's version goes into the birth."""


class DeviceSetupError(Exception):
    """The terminal cannot start; the message says what to fix."""


@dataclass
class Signals:
    """Light, gate and, when fitted, the signal board that needs a heartbeat."""

    indicator: Indicator
    gate: Gate | None
    board: SerialBoard | None = None


def open_signals(section: SignalSection) -> Signals:
    """Real drivers for the configured light and gate."""
    from device.signal.console import ConsoleGate, ConsoleIndicator  # noqa: PLC0415 - only what is configured

    board: SerialBoard | None = None
    if "serial" in (section.indicator, section.gate):
        import serial  # noqa: PLC0415

        settings = section.serial
        if settings is None:
            raise DeviceSetupError("[signal.serial] is needed when a signal is 'serial'")
        try:
            port = serial.Serial(settings.port, settings.baud, timeout=settings.timeout_s)
        except serial.SerialException as exc:
            raise DeviceSetupError(f"cannot open the signal board on {settings.port}: {exc}; check the cable") from exc
        board = SerialBoard(port)
    gpio_indicator, gpio_gate = None, None
    if "gpio" in (section.indicator, section.gate):
        from device.signal.gpio import from_pins  # noqa: PLC0415

        pins = section.gpio
        if pins is None:
            raise DeviceSetupError("[signal.gpio] pins are needed when a signal is 'gpio'")
        try:
            gpio_indicator, gpio_gate = from_pins(
                green=pins.green, yellow=pins.yellow, red=pins.red, buzzer=pins.buzzer, relay=pins.relay
            )
        except SignalError as exc:
            raise DeviceSetupError(str(exc)) from exc
    indicators: dict[str, Indicator | None] = {"console": ConsoleIndicator(), "gpio": gpio_indicator, "serial": board}
    gates: dict[str, Gate | None] = {"none": None, "console": ConsoleGate(), "gpio": gpio_gate, "serial": board}
    indicator = indicators[section.indicator]
    if indicator is None:
        raise DeviceSetupError(f"no driver for indicator {section.indicator!r}")
    return Signals(indicator, gates[section.gate], board)


def open_camera(section: CameraSection, monotonic: Callable[[], float], *, color: bool = False) -> Camera:
    """The configured camera (BGR frames with ``color``, else grey). A synthetic feed's ``source`` is a text file of
    QR texts, one per person, looped; a scene feed renders people walking past, from ``seed``."""
    if section.kind == "opencv":
        from device.camera.opencv import OpenCvCamera, parse_source  # noqa: PLC0415

        return OpenCvCamera(
            parse_source(section.source), width=section.width, height=section.height, fps=section.fps,
            gray=not color, clock=monotonic,
        )  # fmt: skip
    if section.kind == "picamera":
        from device.camera.picamera import PiCamera  # noqa: PLC0415

        return PiCamera(width=section.width, height=section.height, fps=section.fps, gray=not color, clock=monotonic)
    if section.kind == "scene":
        from device.camera.scene import SceneCamera  # noqa: PLC0415

        return SceneCamera(
            width=section.width, height=section.height, color=color, seed=section.seed, realtime=True,
            fps=section.fps, clock=monotonic, sleep=time.sleep,
        )  # fmt: skip
    from device.camera.synthetic import SyntheticCamera, read_script  # noqa: PLC0415

    return SyntheticCamera(
        read_script(Path(section.source), section.fps),
        width=section.width, height=section.height, loop=True, realtime=True, fps=section.fps,
        clock=monotonic, sleep=time.sleep,
    )  # fmt: skip


def open_snapshots(
    config: DeviceConfig,
    *,
    store: DeviceStore,
    clock: ClockTrust,
    factory: Callable[[], Camera],
    camera: Camera,
    actions: TerminalActions | None,
) -> SnapshotService | None:
    """A camera terminal's snapshot service (None for other profiles); hub commands ``snapshot_now`` reach it."""
    if config.device.profile != "camera" or config.snapshots is None:
        return None
    service = SnapshotService(
        camera_factory=factory, store=store, time=clock, monotonic=clock.clock.monotonic,
        parts=snapshot_parts(config.snapshots), camera=camera,
    )  # fmt: skip
    if actions is not None:
        actions.snapshot = service.trigger
        actions.on_decision = service.on_decision
    return service


def read_root_key(path: Path) -> PublicKey:
    """The district root public key provisioned at flashing."""
    try:
        return load_public_key_pem(path.read_bytes())
    except OSError as exc:
        raise DeviceSetupError(f"cannot read the root key {path}: {exc.strerror}; re-provision the terminal") from exc
    except KeyFormatError as exc:
        raise DeviceSetupError(f"{path} is not a PEM public key: re-provision the terminal") from exc


def open_lists(config: DeviceConfig, store: DeviceStore, problems: list[str]) -> StoredLists:
    """The stored lists; a damaged one is reported and treated as absent (every pass then becomes a check)."""
    root = read_root_key(config.lists.root_key)
    lists_dir = config.device.data_dir / "lists"
    trust_dir = lists_dir / TRUST_SUBDIR
    try:
        trust = TrustStore.open(trust_dir, root)
    except ListStoreError as exc:
        problems.append(f"trust list: {exc}")
        trust = TrustStore(trust_dir, root, TrustList.empty())
    revocations: RevocationStore | None
    try:
        revocations = RevocationStore.open(lists_dir / REVOCATIONS_SUBDIR, config.lists.list_id, create=True)
    except ListStoreError as exc:
        problems.append(f"revocation list: {exc}")
        revocations = None
    return StoredLists(trust, revocations, store)


@dataclass
class DeviceApp:
    """A built terminal, ready to run."""

    config: DeviceConfig
    store: DeviceStore
    boot_id: str
    clock: ClockTrust
    metrics: DeviceMetrics
    lists: StoredLists
    loop: ScanLoop | SnapshotService
    """The scan loop; on a camera terminal the snapshot service (it reopens its camera itself)."""
    signals: Signals
    camera_factory: Callable[[], Camera]
    problems: list[str] = field(default_factory=list)
    retention_pressure: bool = False
    sync: SyncService | None = None
    actions: TerminalActions | None = None
    handheld: HandheldRuntime | None = None
    notifier: Notifier = field(default_factory=Notifier.from_environment)
    """systemd's notify socket (Type=notify, WatchdogSec=); silent outside systemd."""

    def housekeeping(self) -> None:
        """Clock trust, retention, gauges and the status file (on the scan loop's thread, which owns the store)."""
        self.clock.tick()
        self.lists.flush()
        store_cfg = self.config.store
        budget = Retention(store_cfg.max_rows, store_cfg.max_bytes, store_cfg.max_age_days * 86400.0)
        result = self.store.prune(budget, self.clock.now())
        self.retention_pressure = result.pressure
        self.metrics.retention_pressure.set(1 if result.pressure else 0)
        for stream in Stream:
            self.metrics.backlog.labels(stream.value).set(self.store.backlog(stream))
        try:
            write_atomic(self.config.device.data_dir / STATUS_FILE, json.dumps(self.status()).encode())
        except OSError as exc:
            log.warning("cannot write the status file: %s", exc)

    def status(self) -> dict[str, object]:
        """The status document (also written to ``status.json`` by housekeeping)."""
        problems = list(self.problems)
        if self.retention_pressure:
            problems.append("storage: unacknowledged data exceeds the retention budget")
        if self.store.unstored:
            problems.append(f"storage: {self.store.unstored} events could not be written (disk full?)")
        snapshots = self.loop.status() if isinstance(self.loop, SnapshotService) else None
        if isinstance(self.loop, SnapshotService):
            problems.extend(self.loop.problems())
        problems.extend(self.handheld.problems() if self.handheld is not None else [])
        return collect(
            self.config, self.store, self.lists, self.clock, problems=problems, data_dir=self.config.device.data_dir,
            snapshots=snapshots, handheld=self.handheld.status() if self.handheld is not None else None,
        )  # fmt: skip

    def _heartbeat(self, stop: threading.Event) -> None:
        board, section = self.signals.board, self.config.signal.serial
        if board is None or section is None:
            return
        while not stop.wait(section.heartbeat_s):
            try:
                board.heartbeat()
            except SignalError as exc:
                self.metrics.signal_errors.labels("heartbeat").inc()
                log.warning("signal board heartbeat failed: %s", exc)

    def run(self, stop: threading.Event) -> ExitRequest | None:
        """Scan until ``stop`` is set; background threads stop with it and are joined.

        Returns what a hub command or pushed configuration asked for (restart, wipe), for the caller to do.
        """
        if self.actions is not None:
            self.actions.stop = stop.set
        server = MetricsServer(self.metrics, self.config.metrics.port) if self.config.metrics.port else None
        threads = [threading.Thread(target=self._heartbeat, args=(stop,), name="board-heartbeat", daemon=True)]
        sync_stop = threading.Event()  # set after the last decisions had a moment to reach the hub
        if self.sync is not None:
            threads.append(threading.Thread(target=self.sync.run, args=(sync_stop,), name="sync"))
        if self.lists.revocations is not None:
            merge = threading.Thread(target=self.lists.revocations.merge_loop, args=(stop,), name="lists-merge")
            threads.append(merge)
        threads.extend(self.handheld.threads(stop) if self.handheld is not None else [])  # GPS reader, its screen
        for thread in threads:
            thread.start()
        next_housekeeping = 0.0
        self.notifier.ready(f"{self.config.device.profile} {self.config.device.id}")
        try:
            while not stop.is_set():
                mono = self.clock.clock.monotonic()
                self.notifier.tick(mono)
                if mono >= next_housekeeping:
                    self.housekeeping()
                    next_housekeeping = mono + HOUSEKEEPING_S
                try:
                    stepped = self.loop.step()
                except CameraError as exc:
                    self._camera_failed(exc, stop)
                    continue
                if stepped is None:
                    stop.wait(IDLE_WAIT_S)
        finally:
            self.notifier.stopping()
            stop.set()
            self._drain_before_stop()
            sync_stop.set()
            for thread in threads:
                thread.join(timeout=10)
            self._close_camera()
            if server is not None:
                server.stop()
            if self.lists.revocations is not None:
                self.lists.revocations.close()
            self.store.db.close()
        return self.actions.exit_request if self.actions is not None else None

    def _drain_before_stop(self) -> None:
        """On a clean stop, give what is still unacknowledged a bounded moment to reach the hub while connected (the
        rest stays stored and goes after the next start; nothing depends on this, it only shortens the wait)."""
        sync = self.sync
        if sync is None or sync.link is None or not sync.link.connected:
            return
        deadline = self.clock.clock.monotonic() + STOP_DRAIN_S
        while self.clock.clock.monotonic() < deadline and sync.link.connected:
            try:
                if not any(self.store.backlog(stream) for stream in Stream):
                    return
            except sqlite3.Error:
                return
            time.sleep(STOP_DRAIN_POLL_S)

    def _camera_failed(self, exc: CameraError, stop: threading.Event) -> None:
        self.metrics.camera_errors.inc()
        message = f"camera: {exc}"
        if message not in self.problems:
            self.problems.append(message)
        log.error("camera failed: %s; reopening in %.0f s", exc, CAMERA_RETRY_S)
        self._close_camera()
        if stop.wait(CAMERA_RETRY_S):
            return
        try:
            self.loop.camera = self.camera_factory()
        except CameraError as again:
            log.warning("camera still unavailable: %s", again)
            return
        self.problems = [p for p in self.problems if not p.startswith("camera:")]

    def _close_camera(self) -> None:
        close = getattr(self.loop.camera, "close", None)
        if close is not None:
            try:
                close()
            except CameraError as exc:
                log.warning("closing the camera: %s", exc)


def birth_info(
    config: DeviceConfig, lists: StoredLists, clock: ClockTrust, config_version: int = 0
) -> Callable[[DeviceStore], dict[str, Any]]:
    """What a terminal tells the hub in its birth message, read fresh at every connect."""

    def info(store: DeviceStore) -> dict[str, Any]:
        revocations = lists.revocations
        return {
            "fw": current_version(RELEASE_ROOT) or FIRMWARE_VERSION,
            "profile": config.device.profile,
            "site": config.device.site,
            "grid_cell": config.device.grid_cell,
            "config_version": config_version,
            "backlog": {stream.value: store.backlog(stream) for stream in Stream},
            "lists": {
                "trust": lists.trust.seq,
                "revocations": {config.lists.list_id: revocations.seq if revocations is not None else None},
                "current_at": lists.current_at(),
            },
            "clock": {"source": clock.source().value, "last_trusted": clock.last_trusted},
            "storage": {"db_bytes": store.size_bytes()},
            "store": store.store_id(),
        }

    return info


def open_sync(
    config: DeviceConfig, boot_id: str, lists: StoredLists, clock: ClockTrust, actions: TerminalActions | None = None
) -> SyncService | None:
    """The sync thread's service, when the config names a hub."""
    section = config.sync
    if section is None:
        return None
    try:
        password = section.password_file.read_text().strip()
        device_key = load_private_key_pem(section.key_file.read_bytes())
    except OSError as exc:
        raise DeviceSetupError(f"cannot read the terminal's credentials: {exc}; re-provision the terminal") from exc
    except KeyFormatError as exc:
        raise DeviceSetupError(f"{section.key_file} is not a private key: re-provision the terminal") from exc
    if not isinstance(device_key, ed25519.Ed25519PrivateKey):
        raise DeviceSetupError(f"{section.key_file} is not an Ed25519 key: re-provision the terminal")
    database = config.device.data_dir / "device.db"
    return SyncService(
        device_id=config.device.id,
        boot=bytes.fromhex(boot_id),
        device_key=device_key,
        broker=BrokerSettings(section.broker_host, section.broker_port, config.device.id, password, section.ca_file),
        outbox_settings=OutboxSettings(
            batch_records=section.batch_records,
            batch_bytes=section.batch_bytes,
            window=section.window,
            ack_timeout_s=section.ack_timeout_s,
            rate_messages_s=section.rate_messages_s,
            rate_bytes_s=section.rate_bytes_s,
            image_chunk_bytes=section.image_chunk_bytes,
            image_window_bytes=section.image_window_bytes,
        ),
        open_store=lambda: DeviceStore(open_database(database)),
        lists=lists,
        root_key=read_root_key(config.lists.root_key),
        list_id=config.lists.list_id,
        clock=clock,
        birth_info=birth_info(config, lists, clock, actions.config_version if actions is not None else 0),
        actions=actions,
        rotation=KeyRotation.load(section.key_file, device_key, config.device.id),
    )


def build(
    config: DeviceConfig,
    *,
    clock: Clock | None = None,
    ntp: NtpStatus | None = None,
    camera_factory: Callable[[], Camera] | None = None,
    signals: Signals | None = None,
    gps: Gps | None = None,
) -> DeviceApp:
    """Wire a terminal from its config; any part may be handed in instead (tests, the demo)."""
    clock = clock or SystemClock()
    config.device.data_dir.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    base_config, root_key = config, read_root_key(config.lists.root_key)
    pushed = load_pushed(base_config, root_key, problems)
    if pushed is not None:
        config = pushed.effective
    version = pushed.doc.version if pushed is not None else 0
    actions = TerminalActions(base_config, root_key, stop=lambda: None, config_version=version)
    store = DeviceStore(open_database(config.device.data_dir / "device.db"))
    boot_id = store.start_boot()
    lists = open_lists(config, store, problems)
    clock_trust = ClockTrust(clock, store, ntp or TimesyncdStatus())
    metrics = DeviceMetrics()
    color = config.device.profile in ("camera", "handheld")  # snapshots, photos in colour (the handheld's tap greys)
    factory = camera_factory or (lambda: open_camera(config.camera, clock.monotonic, color=color))
    signals = signals or open_signals(config.signal)
    try:
        camera: Camera = factory()
    except CameraError as exc:
        raise DeviceSetupError(str(exc)) from exc
    snapshots = open_snapshots(config, store=store, clock=clock_trust, factory=factory, camera=camera, actions=actions)
    loop: ScanLoop | SnapshotService = snapshots or ScanLoop(
        camera=camera,
        decoder=Decoder(),
        verifier=Verifier(lists, clock_trust, config.scan.max_list_age_s),
        indicator=signals.indicator,
        gate=signals.gate,
        store=store,
        boot_id=boot_id,
        clock=clock_trust,
        metrics=metrics,
        hold_off_s=config.scan.hold_off_s,
        gate_open_ms=config.signal.gate_open_ms,
    )
    sync = open_sync(config, boot_id, lists, clock_trust, actions)
    handheld = None
    if config.device.profile == "handheld" and config.handheld is not None and isinstance(loop, ScanLoop):
        try:
            handheld = open_handheld(config.handheld, database=config.device.data_dir / "device.db", camera=camera,
                                     clock=clock_trust, gps=gps)  # fmt: skip
        except HandheldSetupError as exc:
            raise DeviceSetupError(str(exc)) from exc
        loop.camera, loop.on_outcome = handheld.tap, handheld.services.scans.publish
        factory = handheld.camera_factory(factory)
    app = DeviceApp(
        config, store, boot_id, clock_trust, metrics, lists, loop, signals, factory, problems, sync=sync,
        actions=actions, handheld=handheld,
    )  # fmt: skip
    if handheld is not None:  # the screen shows the terminal's problems (camera, lists, storage) and the GPS's
        handheld.services.problems = lambda: [*app.problems, *handheld.gps_problems()]
    return app
