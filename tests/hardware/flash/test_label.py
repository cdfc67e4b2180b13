"""The label: the QR code reads back as the device id."""

from __future__ import annotations

from pathlib import Path

import cv2
import zxingcpp

from hardware.flash.label import label_png, qr_modules, terminal_text


def test_the_png_label_reads_back_as_the_id(tmp_path: Path) -> None:
    path = tmp_path / "scanner-sh-pd-1-3fa9c2.png"
    label_png("scanner-sh-pd-1-3fa9c2", path)
    image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    assert [result.text for result in zxingcpp.read_barcodes(image)] == ["scanner-sh-pd-1-3fa9c2"]


def test_the_terminal_label_draws_every_module() -> None:
    text = terminal_text("cam-7")
    modules = qr_modules("cam-7")
    lines = text.splitlines()
    assert lines[-1] == "cam-7"
    assert len(lines) - 1 == (modules.shape[0] + 1) // 2
    assert all(len(line) == modules.shape[1] for line in lines[:-1])
