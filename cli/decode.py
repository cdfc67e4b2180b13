"""``gridpass decode``: the scanner's QR decoder on image files, one JSON line per file.

Each line is ``{"file": ..., "texts": [...], "ms": ...}`` where ``ms`` is the decoder's own time (not start-up, not
reading or decoding the image file). A file that cannot be read gives ``"ms": null`` and an ``"error"``; the command
goes on with the next one and exits 3 at the end. Every file is decoded afresh: no region is carried between files.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import cv2
import numpy as np
import numpy.typing as npt
import typer

from cli.errors import EXIT_INPUT, warn
from cli.verify import MAX_IMAGE_BYTES
from device.vision.decoder import Decoder, DecoderOptions


def load_image(path: Path) -> npt.NDArray[np.uint8]:
    """The picture in ``path`` as OpenCV reads it (BGR, EXIF orientation applied); OSError or ValueError if not."""
    with path.open("rb") as handle:
        data = handle.read(MAX_IMAGE_BYTES + 1)
    if len(data) > MAX_IMAGE_BYTES:
        raise ValueError(f"larger than {MAX_IMAGE_BYTES // 2**20} MiB")
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError("not an image OpenCV can read (PNG, JPEG, BMP, TIFF, WebP)")
    return np.asarray(image, dtype=np.uint8)


def decode(
    files: Annotated[list[Path], typer.Argument(help="Image files (PNG, JPEG, ...) to read QR codes from.")],
) -> None:
    """Read the QR codes in image files; print one JSON line per file with the texts and the decode time in ms."""
    decoder = Decoder(DecoderOptions(track=False))
    unreadable = 0
    for path in files:
        try:
            image = load_image(path)
        except (OSError, ValueError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            print(json.dumps({"file": str(path), "texts": [], "ms": None, "error": reason}, ensure_ascii=False))
            warn(f"cannot read {path}: {reason}")
            unreadable += 1
            continue
        result = decoder.decode(image)
        print(json.dumps({"file": str(path), "texts": list(result.texts), "ms": round(result.elapsed_ms, 3)},
                         ensure_ascii=False))  # fmt: skip
    if unreadable:
        raise typer.Exit(EXIT_INPUT)
