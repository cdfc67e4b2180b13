"""NMEA on a serial port: fixes from GGA and RMC, no fix said as such, and garbage counted and skipped."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from device.clock import FakeClock
from device.gps.base import FIX_STALE_S, NO_DATA_S, GpsState
from device.gps.nmea import MAX_LINE_BYTES, MAX_LINES_PER_READ, NmeaGps
from tests.device.gps.support import BytePort, gga, nmea, rmc


def reader(data: bytes = b"", chunk: int | None = None) -> tuple[NmeaGps, BytePort, FakeClock]:
    clock = FakeClock()
    port = BytePort(data, chunk)
    return NmeaGps(port, clock=clock.monotonic), port, clock


def test_a_gga_fix() -> None:
    gps, _port, clock = reader(gga())
    fix = gps.read()
    assert fix is not None
    assert fix.lat == pytest.approx(31 + 14 / 60)
    assert fix.lon == pytest.approx(121 + 28 / 60)
    assert (fix.quality, fix.sats, fix.accuracy_m, fix.at) == (1, 8, 4.5, clock.mono)
    assert gps.status().state is GpsState.FIX
    assert gps.status().sentences == 1


def test_southern_and_western_hemispheres() -> None:
    gps, _port, _clock = reader(gga(lat="3352.0000", ns="S", lon="15112.0000", ew="W"))
    fix = gps.read()
    assert fix is not None
    assert fix.lat == pytest.approx(-(33 + 52 / 60))
    assert fix.lon == pytest.approx(-(151 + 12 / 60))


def test_gst_gives_the_error_estimate() -> None:
    gst = nmea("GPGST,083000.00,1.2,3.0,2.0,45.0,3.0,4.0,5.0")
    gps, _port, _clock = reader(gst + gga())
    fix = gps.read()
    assert fix is not None
    assert fix.accuracy_m == 5.0  # hypot(3, 4)


def test_rmc_alone_is_a_fix_and_void_is_none() -> None:
    gps, port, _clock = reader(rmc())
    assert gps.read() is not None
    port.feed(rmc(status="V"))
    assert gps.read() is None
    status = gps.status()
    assert status.state is GpsState.NO_FIX
    assert "RMC status V" in status.reason


def test_quality_zero_is_no_fix_with_a_reason() -> None:
    gps, port, _clock = reader(gga())
    assert gps.read() is not None
    port.feed(nmea("GPGGA,083001.00,,,,,0,00,99.9,,M,,M,,"))
    assert gps.read() is None
    assert gps.status().state is GpsState.NO_FIX
    assert "quality 0" in gps.status().reason


def test_a_fix_goes_stale_when_not_confirmed() -> None:
    gps, port, clock = reader(gga())
    assert gps.read() is not None
    clock.advance(FIX_STALE_S / 2)
    port.feed(nmea("GPGSV,1,1,00"))  # sentences keep coming, none with a position
    assert gps.read() is not None
    clock.advance(FIX_STALE_S)
    port.feed(nmea("GPGSV,1,1,00"))
    assert gps.read() is None
    assert gps.status().state is GpsState.NO_FIX
    assert "no fix for" in gps.status().reason
    clock.advance(NO_DATA_S + 1)
    assert gps.status().state is GpsState.NO_DATA


def test_silence_and_only_garbage_are_told_apart() -> None:
    gps, port, _clock = reader()
    assert gps.read() is None
    assert gps.status().state is GpsState.NO_DATA
    assert "nothing from the GPS" in gps.status().reason
    port.feed(b"\xfe\x81garbage at the wrong baud rate\r\n" * 3)
    gps.read()
    status = gps.status()
    assert (status.state, status.garbage) == (GpsState.NO_DATA, 3)
    assert "baud rate" in status.reason


@pytest.mark.parametrize(
    "line",
    [
        b"$GPGGA,083000.00,3114.0000,N,12128.0000,E,1,08,0.9,12.0,M,8.0,M,,\r\n",  # no checksum
        gga().replace(b"*", b"*0").replace(b"\r\n", b"0\r\n")[:-4] + b"FF\r\n",  # wrong checksum
        nmea("GPGGA,083000.00,31xx.0000,N,12128.0000,E,1,08,0.9,12.0,M,8.0,M,,"),  # checksummed, bad field
        nmea("GPGGA,083000.00,9914.0000,N,12128.0000,E,1,08,0.9,12.0,M,8.0,M,,"),  # latitude 99
        nmea("GPGGA,083000.00,0000.0000,N,00000.0000,E,1,08,0.9,12.0,M,8.0,M,,"),  # 0,0: a receiver's no-fix
        b"\x00\xff\xfe\r\n",
        b"$" + b"A" * (MAX_LINE_BYTES + 50) + b"\r\n",
    ],
)
def test_bad_lines_are_counted_and_skipped(line: bytes) -> None:
    gps, _port, _clock = reader(line + gga())
    fix = gps.read()
    assert fix is not None
    assert fix.lat == pytest.approx(31 + 14 / 60)
    assert gps.status().garbage == 1


def test_a_line_cut_by_the_read_timeout_is_joined() -> None:
    gps, port, _clock = reader(chunk=10)
    port.feed(gga())
    for _ in range(20):
        gps.read()
    assert gps.status().state is GpsState.FIX
    assert gps.status().garbage == 0


def test_one_read_takes_a_bounded_number_of_lines() -> None:
    gps, port, _clock = reader(gga() * (MAX_LINES_PER_READ + 5))
    gps.read()
    assert gps.status().sentences == MAX_LINES_PER_READ
    assert port.data


def test_an_unplugged_port_is_an_error_and_nothing_crashes() -> None:
    class Unplugged(BytePort):
        def read_until(self, expected: bytes = b"\n", size: int | None = None) -> bytes:
            raise OSError(5, "Input/output error")

    gps = NmeaGps(Unplugged(), clock=FakeClock().monotonic)
    assert gps.read() is None
    status = gps.status()
    assert status.state is GpsState.ERROR
    assert "port failed" in status.reason
    gps.close()


@given(st.lists(st.binary(max_size=400), max_size=20))
def test_fuzz_garbage_never_raises_and_a_good_line_still_reads(chunks: list[bytes]) -> None:
    gps, port, _clock = reader()
    for chunk in chunks:
        port.feed(chunk)
        gps.read()
    port.feed(b"\r\n" + gga())
    for _ in range(MAX_LINES_PER_READ):
        if gps.read() is not None:
            break
    fix = gps.current()
    assert fix is not None
    assert fix.lat == pytest.approx(31 + 14 / 60)


NMEA_CHARS = st.sampled_from(list("$*,.0123456789ABCDEFGNPRSVWZ-\r\n"))


@given(st.lists(st.text(NMEA_CHARS, max_size=120), max_size=20))
def test_fuzz_near_nmea_lines(lines: list[str]) -> None:
    gps, port, _clock = reader()
    for line in lines:
        port.feed(line.encode() + b"\r\n")
        fix = gps.read()
        if fix is not None:
            assert -90 <= fix.lat <= 90
            assert -180 <= fix.lon <= 180
    status = gps.status()
    assert status.sentences + status.garbage <= len(lines) + sum(line.count("\n") for line in lines)


@given(st.text(st.sampled_from(list("0123456789.,ANSEWV")), max_size=80))
def test_fuzz_checksummed_fields(body: str) -> None:
    """A correct checksum around nonsense fields: refused or taken, never a crash, never an impossible fix."""
    gps, _port, _clock = reader(nmea("GPGGA," + body) + nmea("GPRMC," + body))
    fix = gps.read()
    if fix is not None:
        assert -90 <= fix.lat <= 90
        assert -180 <= fix.lon <= 180


def test_a_real_serial_port_on_a_pty() -> None:
    """pyserial on a pseudo-terminal: the bytes take the same path as from a USB receiver."""
    import os

    import serial

    master, slave = os.openpty()
    try:
        port = serial.Serial(os.ttyname(slave), 9600, timeout=0.2)
        gps = NmeaGps(port)
        os.write(master, b"\xff\x00noise\r\n" + gga() + rmc())
        fix = None
        for _ in range(20):
            fix = gps.read()
            if fix is not None:
                break
        assert fix is not None
        assert fix.lat == pytest.approx(31 + 14 / 60)
        assert gps.status().garbage == 1
        gps.close()
        assert not port.is_open
    finally:
        os.close(master)
        os.close(slave)
