"""The handheld profile's parts, built from the ``[handheld]`` config: the frame tap over the camera, the GPS reader,
the incident desk, the last-scan board and the page's server; and the threads the terminal runs them on.

The composition root (``device/app.py``) calls :func:`open_handheld` and starts :meth:`HandheldRuntime.threads`.
The page and the desk use store connections of their own (the scan loop's belongs to its thread); they are closed
when the page's thread ends.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from device.camera.base import Camera
from device.clock import ClockTrust
from device.config import HandheldSection
from device.gps.base import Gps, GpsError, GpsState
from device.gps.tracker import PositionTracker
from device.grid import GridCell
from device.handheld.backlog import BacklogView
from device.handheld.frames import FrameTap
from device.handheld.scans import LastScan
from device.handheld.web import HandheldServer, HandheldServices
from device.incidents import IncidentDesk, IncidentLimits
from device.store import DeviceStore, open_database

log = logging.getLogger(__name__)


def open_gps(section: HandheldSection, monotonic: Callable[[], float]) -> Gps | None:
    """The configured receiver (real drivers imported only when configured); :class:`GpsError` when it cannot open."""
    gps = section.gps
    if gps.kind == "none":
        return None
    if gps.kind == "gpsd":
        from device.gps.gpsd import GpsdGps, tcp_connector  # noqa: PLC0415

        return GpsdGps(tcp_connector(gps.host, gps.gpsd_port), clock=monotonic)
    import serial  # noqa: PLC0415

    from device.gps.nmea import NmeaGps  # noqa: PLC0415

    try:
        port = serial.Serial(gps.port, gps.baud, timeout=gps.timeout_s)
    except serial.SerialException as exc:
        raise GpsError(f"cannot open the GPS on {gps.port}: {exc}; check the cable") from exc
    return NmeaGps(port, clock=monotonic)


class HandheldSetupError(Exception):
    """The handheld's page cannot be served (its port is taken); the message says which."""


@dataclass
class HandheldRuntime:
    """The handheld's parts, ready to run."""

    tap: FrameTap
    tracker: PositionTracker
    services: HandheldServices
    server: HandheldServer
    stores: tuple[DeviceStore, ...]

    def camera_factory(self, factory: Callable[[], Camera]) -> Callable[[], Camera]:
        """A camera factory whose cameras go through the tap (for the app's camera reopening)."""

        def reopen() -> Camera:
            self.tap.camera = factory()
            return self.tap

        return reopen

    def threads(self, stop: threading.Event) -> list[threading.Thread]:
        """The GPS reader and the page's server, not yet started."""
        return [
            threading.Thread(target=self.tracker.run, args=(stop,), name="gps"),
            threading.Thread(target=self._serve, args=(stop,), name="handheld-page"),
        ]

    def _serve(self, stop: threading.Event) -> None:
        try:
            self.server.run(stop)
        finally:
            for store in self.stores:
                store.db.close()

    def status(self) -> dict[str, Any]:
        """The handheld's part of the terminal status: GPS state and counters, incidents filed and refused."""
        desk = self.services.desk
        return {
            "gps": self.tracker.status().as_dict(),
            "incidents": {"filed": desk.filed, "refused": dict(desk.refused)},
            "page": {"url": self.server.url, "refused_requests": self.services.refused_requests},
        }

    def gps_problems(self) -> list[str]:
        """A GPS that cannot be read or stays silent (no fix is not a problem: it is said in the GPS state)."""
        gps = self.tracker.status()
        return [f"gps: {gps.reason}"] if gps.state in (GpsState.ERROR, GpsState.NO_DATA) else []

    def problems(self) -> list[str]:
        """What the status should warn about."""
        desk = self.services.desk.last_problem
        return [*self.gps_problems(), *([desk] if desk else [])]


def open_handheld(
    section: HandheldSection,
    *,
    database: Path,
    camera: Camera,
    clock: ClockTrust,
    gps: Gps | None = None,
) -> HandheldRuntime:
    """Build the handheld's parts; ``gps`` is handed in by tests, otherwise the configured receiver is opened."""
    monotonic = clock.clock.monotonic
    unavailable = ""
    if gps is None:
        try:
            gps = open_gps(section, monotonic)
        except GpsError as exc:
            log.warning("GPS unavailable: %s", exc)
            unavailable = str(exc)
    tracker = PositionTracker(gps, clock=monotonic, unavailable=unavailable)
    tap = FrameTap(camera, clock=monotonic)
    desk_store, view_store = DeviceStore(open_database(database)), DeviceStore(open_database(database))
    desk = IncidentDesk(
        store=desk_store,
        clock=clock,
        position=tracker.latest,
        cells=[GridCell(cell.code, tuple(cell.polygon)) for cell in section.grid_cells],
        limits=IncidentLimits(
            categories=tuple(section.categories),
            note_max_chars=section.note_max_chars,
            photo_max_bytes=section.photo_max_bytes,
            photo_max_side=section.photo_max_side,
            photo_max_count=section.photo_max_count,
        ),
        frames=tap,
    )
    services = HandheldServices(
        desk=desk,
        scans=LastScan(clock.now),
        gps=tracker,
        backlog=BacklogView(view_store),
        labels={code: section.labels.get(code, "") for code in section.categories},
    )
    try:
        server = HandheldServer(services, section.web_port)
    except OSError as exc:
        desk_store.db.close()
        view_store.db.close()
        raise HandheldSetupError(f"cannot serve the handheld page on 127.0.0.1:{section.web_port}: {exc}") from exc
    return HandheldRuntime(tap, tracker, services, server, (desk_store, view_store))
