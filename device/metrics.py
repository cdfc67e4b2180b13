"""The terminal's Prometheus metrics, in a registry of its own, served on loopback only."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

LATENCY_BUCKETS_S = (0.01, 0.02, 0.033, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0, 2.0)


@dataclass
class DeviceMetrics:
    """Every counter the terminal keeps; one instance per app (tests make their own)."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.decisions = Counter("gridpass_decisions", "Decisions taken", ["decision", "reason"], registry=r)
        self.frames = Counter("gridpass_frames", "Frames read from the camera", registry=r)
        self.camera_errors = Counter("gridpass_camera_errors", "Camera read failures", registry=r)
        self.decoded = Counter("gridpass_codes_decoded", "Codes read in frames (before presentation dedup)", registry=r)
        self.latency = Histogram(
            "gridpass_capture_to_indicator_seconds",
            "From a frame's capture to the indicator call",
            buckets=LATENCY_BUCKETS_S,
            registry=r,
        )
        self.signal_errors = Counter("gridpass_signal_errors", "Light, buzzer or gate failures", ["part"], registry=r)
        self.unstored = Counter("gridpass_events_unstored", "Events that could not be written", registry=r)
        self.backlog = Gauge("gridpass_backlog", "Records not yet acknowledged by the hub", ["stream"], registry=r)
        self.retention_pressure = Gauge(
            "gridpass_retention_pressure", "1 when unacknowledged data exceeds the budget", registry=r
        )


class MetricsServer:
    """The /metrics endpoint on 127.0.0.1; ``stop`` shuts it down and joins its thread."""

    def __init__(self, metrics: DeviceMetrics, port: int) -> None:
        self._server: WSGIServer
        self._thread: threading.Thread
        self._server, self._thread = start_http_server(port, addr="127.0.0.1", registry=metrics.registry)

    @property
    def port(self) -> int:
        """The bound port (useful when 0 was asked for)."""
        return int(self._server.server_port)

    def stop(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
