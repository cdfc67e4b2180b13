"""The demo's GPS receiver: real NMEA sentences on a pseudo-terminal, read back through pyserial and parsed by the
handheld's own NMEA reader library."""

from __future__ import annotations

import time

import pynmea2
import pytest
import serial

from demo.gps_feed import GpsFeed, sentences


def test_sentences_carry_the_position_with_valid_checksums() -> None:
    for text in sentences(31.2103, 121.5104, 1_800_000_000):
        parsed = pynmea2.parse(text.strip(), check=True)
        assert parsed.latitude == pytest.approx(31.2103, abs=1e-6)
        assert parsed.longitude == pytest.approx(121.5104, abs=1e-6)
    south_west = pynmea2.parse(sentences(-33.5, -70.25, 0)[0].strip(), check=True)
    assert (south_west.latitude, south_west.longitude) == pytest.approx((-33.5, -70.25))


def test_the_feed_is_read_as_a_serial_port() -> None:
    feed = GpsFeed(31.2103, 121.5104, seed=1)
    feed.start()
    try:
        with serial.Serial(str(feed.port), 9600, timeout=0.5) as port:
            deadline, fixes = time.monotonic() + 10, list[pynmea2.NMEASentence]()
            while len(fixes) < 2 and time.monotonic() < deadline:
                line = port.readline().decode("ascii", errors="replace").strip()
                if line.startswith("$"):
                    fixes.append(pynmea2.parse(line, check=True))
        assert len(fixes) >= 2
        assert all(abs(fix.latitude - 31.2103) < 0.001 for fix in fixes)
    finally:
        feed.close()
