"""Pass issuing: midnight expiry in the issuer's zone, and QR images that read back."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import cv2
import zxingcpp

from district.passes import issue, midnight_after, qr_image, write_qr_png
from protocol.gp1 import PassStatus
from protocol.keys import Alg, generate_private_key


def test_midnight_after_is_24_00_local_time() -> None:
    noon = int(datetime(2026, 3, 5, 12, 0, tzinfo=ZoneInfo("Asia/Shanghai")).timestamp())
    assert midnight_after(noon) == int(datetime(2026, 3, 6, 0, 0, tzinfo=ZoneInfo("Asia/Shanghai")).timestamp())
    one_minute_to = int(datetime(2026, 3, 5, 23, 59, tzinfo=ZoneInfo("Asia/Shanghai")).timestamp())
    assert midnight_after(one_minute_to) == midnight_after(noon)
    assert midnight_after(noon, "UTC") != midnight_after(noon)


def test_issued_pass_defaults_and_qr_round_trip(tmp_path: Path) -> None:
    key = generate_private_key(Alg.ES256)
    issued = issue(key, iss="CN-ZJ-HZ", status=PassStatus.YELLOW, iat=1_800_000_000)
    assert issued.health_pass.exp == midnight_after(1_800_000_000)
    assert len(issued.health_pass.cti) == len(issued.health_pass.hid) == 16
    assert issued.qr_text.startswith("GP1:")
    found = zxingcpp.read_barcodes(qr_image(issued.qr_text))
    assert [b.text for b in found] == [issued.qr_text]
    png = tmp_path / "pass.png"
    write_qr_png(issued.qr_text, png)
    assert [b.text for b in zxingcpp.read_barcodes(cv2.imread(str(png)))] == [issued.qr_text]
