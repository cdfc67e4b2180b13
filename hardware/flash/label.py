"""The device label: its id as text and as a QR code, as a PNG to print and as text for the terminal window."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import zxingcpp

QR_SCALE = 8
"""Pixels per module on the PNG (about 2 cm wide at 300 dpi for a short id)."""
TEXT_BAND_PX = 60
DARK = 128


def qr_modules(text: str) -> np.ndarray:
    """The QR code of ``text``, one array element per module (True: dark), with its quiet zone."""
    barcode = zxingcpp.create_barcode(text, zxingcpp.BarcodeFormat.QRCode, ec_level="M")
    image = np.asarray(zxingcpp.write_barcode_to_image(barcode, scale=1))
    modules: np.ndarray = image < DARK
    return modules


def terminal_text(text: str) -> str:
    """The QR code drawn with half blocks (two module rows per line), dark on a light terminal background inverted."""
    modules = qr_modules(text)
    if modules.shape[0] % 2:
        modules = np.vstack([modules, np.zeros((1, modules.shape[1]), dtype=bool)])
    glyphs = {(False, False): "█", (True, True): " ", (True, False): "▄", (False, True): "▀"}
    rows = []
    for top, bottom in zip(modules[0::2], modules[1::2], strict=True):
        rows.append("".join(glyphs[(bool(a), bool(b))] for a, b in zip(top, bottom, strict=True)))
    return "\n".join(rows) + f"\n{text}\n"


def label_png(text: str, path: Path, *, scale: int = QR_SCALE) -> None:
    """A PNG: the QR code with the id printed under it."""
    modules = qr_modules(text)
    small = np.where(modules, 0, 255).astype(np.uint8)
    qr: np.ndarray = cv2.resize(small, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
    band = np.full((TEXT_BAND_PX, qr.shape[1]), 255, dtype=np.uint8)
    font_scale = max(0.4, min(1.2, qr.shape[1] / (22.0 * max(len(text), 1))))
    (width, height), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font_scale, 2)
    origin = (max(0, (qr.shape[1] - width) // 2), (TEXT_BAND_PX + height) // 2)
    cv2.putText(band, text, origin, cv2.FONT_HERSHEY_SIMPLEX, font_scale, 0, 2, cv2.LINE_AA)
    ok, encoded = cv2.imencode(".png", np.vstack([qr, band]))
    if not ok:
        raise OSError(f"could not encode the label PNG for {path}")
    path.write_bytes(encoded.tobytes())
