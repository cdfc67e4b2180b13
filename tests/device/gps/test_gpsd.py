"""gpsd's JSON protocol against a loopback server speaking it: WATCH sent, TPV and SKY read, garbage counted, a lost
daemon reported and reached again."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from device.clock import FakeClock
from device.gps.base import GpsState
from device.gps.gpsd import MAX_LINE_BYTES, RECONNECT_S, WATCH, GpsdGps, tcp_connector

WAIT_S = 10.0
READS = 50

TPV = {"class": "TPV", "device": "/dev/ttyACM0", "mode": 3, "lat": 31.2304, "lon": 121.4737, "eph": 3.2}
SKY = {"class": "SKY", "satellites": [{"PRN": n, "used": n % 2 == 0} for n in range(1, 11)]}


class GpsdServer:
    """Accepts connections on 127.0.0.1, records what the client sent, and sends what the test queues."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.received = b""
        self.connections: list[socket.socket] = []
        self.accepted = threading.Semaphore(0)
        self.stop = threading.Event()
        self.listener.settimeout(0.05)
        self.thread = threading.Thread(target=self._accept, name="fake-gpsd")
        self.thread.start()

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            conn.settimeout(WAIT_S)
            self.received += conn.recv(1024)
            self.connections.append(conn)
            self.accepted.release()

    def send(self, *reports: object) -> None:
        data = b"".join(r if isinstance(r, bytes) else json.dumps(r).encode() + b"\n" for r in reports)
        self.connections[-1].sendall(data)

    def drop(self) -> None:
        self.connections[-1].close()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(WAIT_S)
        self.listener.close()
        for conn in self.connections:
            conn.close()


@pytest.fixture
def server() -> Iterator[GpsdServer]:
    running = GpsdServer()
    yield running
    running.close()


def read_until(gps: GpsdGps, condition: object) -> None:
    for _ in range(READS):
        gps.read()
        if callable(condition) and condition():
            return
    pytest.fail("condition not reached within the reads allowed")


def test_watch_tpv_and_sky(server: GpsdServer) -> None:
    clock = FakeClock()
    gps = GpsdGps(tcp_connector("127.0.0.1", server.port), clock=clock.monotonic)
    gps.read()
    assert server.accepted.acquire(timeout=WAIT_S)
    assert server.received == WATCH
    server.send({"class": "VERSION", "release": "3.25"}, SKY, TPV)
    read_until(gps, lambda: gps.current() is not None)
    fix = gps.current()
    assert fix is not None
    assert (fix.lat, fix.lon, fix.accuracy_m, fix.sats) == (31.2304, 121.4737, 3.2, 5)
    assert gps.status().state is GpsState.FIX
    server.send({"class": "TPV", "mode": 1})
    read_until(gps, lambda: gps.current() is None)
    assert gps.status().state is GpsState.NO_FIX
    assert "mode 1" in gps.status().reason
    gps.close()


def test_garbage_is_counted_and_skipped(server: GpsdServer) -> None:
    gps = GpsdGps(tcp_connector("127.0.0.1", server.port), clock=FakeClock().monotonic)
    gps.read()
    assert server.accepted.acquire(timeout=WAIT_S)
    server.send(
        b"not json\n",
        b"[1, 2]\n",
        b'{"class": "TPV", "mode": "3"}\n',
        b'{"class": "TPV", "mode": 3, "lat": 91, "lon": 0}\n',
        b"\xff\xfe\n",
        b"x" * (MAX_LINE_BYTES + 10) + b"\n",
        {**TPV, "epx": 3.0, "epy": 4.0, "eph": None},
    )
    read_until(gps, lambda: gps.current() is not None)
    fix = gps.current()
    assert fix is not None
    assert fix.accuracy_m == 5.0
    assert gps.status().garbage == 6
    gps.close()


def test_a_lost_daemon_is_reported_and_reached_again(server: GpsdServer) -> None:
    clock = FakeClock()
    gps = GpsdGps(tcp_connector("127.0.0.1", server.port), clock=clock.monotonic)
    gps.read()
    assert server.accepted.acquire(timeout=WAIT_S)
    server.send(TPV)
    read_until(gps, lambda: gps.current() is not None)
    server.drop()
    read_until(gps, lambda: gps.status().state is GpsState.ERROR)
    assert gps.current() is None
    assert "gpsd" in gps.status().reason
    gps.read()  # too early: no new attempt
    assert not server.accepted.acquire(timeout=0.2)
    clock.advance(RECONNECT_S)
    gps.read()
    assert server.accepted.acquire(timeout=WAIT_S)
    server.send(TPV)
    read_until(gps, lambda: gps.current() is not None)
    assert gps.status().state is GpsState.FIX
    gps.close()


def test_no_daemon_listening_is_an_error() -> None:
    probe = socket.create_server(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    gps = GpsdGps(tcp_connector("127.0.0.1", port), clock=FakeClock().monotonic)
    assert gps.read() is None
    assert gps.status().state is GpsState.ERROR
    assert "cannot reach gpsd" in gps.status().reason


@given(st.lists(st.binary(max_size=300), max_size=20))
def test_fuzz_reports(chunks: list[bytes]) -> None:
    gps = GpsdGps(tcp_connector(), clock=FakeClock().monotonic)
    for chunk in chunks:
        gps._take_bytes(chunk)
    gps._take_bytes(b"\n" + json.dumps(TPV).encode() + b"\n")
    assert gps.current() is not None


@given(
    st.dictionaries(
        st.sampled_from(["class", "mode", "lat", "lon", "eph", "epx", "epy", "uSat", "satellites"]),
        st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=5), st.lists(st.integers())),
    )
)
def test_fuzz_report_fields(report: dict[str, object]) -> None:
    gps = GpsdGps(tcp_connector(), clock=FakeClock().monotonic)
    try:
        line = json.dumps(report).encode()
    except ValueError:
        return
    gps.feed(line)
    fix = gps.current()
    if fix is not None:
        assert -90 <= fix.lat <= 90
        assert -180 <= fix.lon <= 180
