"""`gridpass decode`: one JSON line per file, decode time only, exit 3 when a file could not be read."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from device.vision.render import Distortion, make_scene, qr_modules, render
from district.passes import qr_image
from tests.cli.conftest import District, gridpass


def lines(stdout: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in stdout.strip().splitlines()]


def test_reads_passes_from_png_and_jpeg_photos(district: District, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    photo = render(make_scene(rng, 1280, 720, color=True), qr_modules(district.qr),
                   Distortion(module_px=4, angle_deg=20, tilt_deg=25, look="phone"), rng).image  # fmt: skip
    files = [tmp_path / "printout.png", tmp_path / "phone.jpg", tmp_path / "wall.png"]
    cv2.imwrite(str(files[0]), qr_image(district.qr))
    cv2.imwrite(str(files[1]), photo, [cv2.IMWRITE_JPEG_QUALITY, 85])
    cv2.imwrite(str(files[2]), make_scene(rng, 640, 480))
    result = gridpass("decode", *files)
    assert result.exit_code == 0, result.output
    out = lines(result.stdout)
    assert [o["file"] for o in out] == [str(f) for f in files]
    assert [o["texts"] for o in out] == [[district.qr], [district.qr], []]
    for o in out:
        assert set(o) == {"file", "texts", "ms"}
        assert isinstance(o["ms"], float | int)
        assert o["ms"] >= 0


def test_unreadable_files_are_reported_and_exit_3_at_the_end(tmp_path: Path) -> None:
    good = tmp_path / "good.png"
    cv2.imwrite(str(good), qr_image("GP1:ANYTHING"))
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 not a jpeg")
    missing = tmp_path / "missing.png"
    result = gridpass("decode", broken, missing, good)
    assert result.exit_code == 3
    out = lines(result.stdout)
    assert [o["file"] for o in out] == [str(broken), str(missing), str(good)]
    assert out[0]["texts"] == out[1]["texts"] == []
    assert out[0]["ms"] is out[1]["ms"] is None
    assert "not an image" in str(out[0]["error"])
    assert "No such file" in str(out[1]["error"])
    assert out[2]["texts"] == ["GP1:ANYTHING"]
    assert "cannot read" in result.stderr


def test_no_files_is_a_usage_error() -> None:
    assert gridpass("decode").exit_code == 2
