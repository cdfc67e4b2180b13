"""``gridpass verify``: the command-line face of the decision, for operators and external checks.

The last line on stdout is one JSON object with at least ``decision`` and ``reason``; the exit code is 0 whenever a
decision was reached (deny and invalid included).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated

import cv2
import numpy as np
import numpy.typing as npt
import typer
import zxingcpp

from cli.errors import EXIT_INPUT, fail, warn
from district.keyfiles import KeyFileError, read_public
from protocol.decision import ListFreshness, decide
from protocol.documents import DocumentError
from protocol.keys import PublicKey
from protocol.revocation import HeldLists, parse_revocation_update
from protocol.trustlist import TrustList, parse_trust_list

MAX_IMAGE_BYTES = 50 * 1024 * 1024


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        fail(f"cannot read {what} {path}: {exc.strerror}")


def _load_trust(path: Path, root: PublicKey) -> TrustList:
    try:
        return parse_trust_list(_read(path, "trust list"), root)
    except DocumentError as exc:
        warn(f"trust list {path} not applied ({exc}); no key is trusted")
        return TrustList.empty()


def _load_revocations(paths: list[Path], root: PublicKey) -> HeldLists:
    held = HeldLists()
    for path in paths:
        try:
            held = held.apply(parse_revocation_update(_read(path, "revocation update"), root))
        except DocumentError as exc:
            warn(f"revocation update {path} skipped ({exc})")
    return held


def qr_texts_in(image: npt.NDArray[np.generic]) -> list[str]:
    """Every QR code zxing-cpp reads in a grayscale image (the scanner's decoder does more; this is enough here)."""
    found = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode))
    return [barcode.text for barcode in found]


def read_qr_from_image(path: Path) -> str | None:
    """The text of the QR code in a picture (a gridpass or DCC code first, if it holds several)."""
    data = _read(path, "image")
    if len(data) > MAX_IMAGE_BYTES:
        fail(f"image {path} is larger than {MAX_IMAGE_BYTES // 2**20} MiB")
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE)
    if image is None:
        fail(f"{path} is not an image OpenCV can read (PNG or JPEG)")
    texts = qr_texts_in(image)
    for text in texts:
        if text.startswith(("GP1:", "HC1:")):
            return text
    return texts[0] if texts else None


def verify(
    root: Annotated[Path, typer.Option(help="The district root public key (PEM) that signs the lists.")],
    trust: Annotated[Path, typer.Option(help="The signed trust list (COSE).")],
    qr_text: Annotated[str | None, typer.Argument(help="The QR text, or '-' to read it from stdin.")] = None,
    revocations: Annotated[
        list[Path] | None, typer.Option(help="Signed revocation updates, applied in the order given.")
    ] = None,
    at: Annotated[float | None, typer.Option(help="Decide as of this time (Unix seconds); default now.")] = None,
    max_age: Annotated[
        float | None, typer.Option(help="Treat lists older than this many seconds as stale (check, not pass).")
    ] = None,
    image: Annotated[Path | None, typer.Option(help="Read the QR code from this PNG or JPEG instead.")] = None,
) -> None:
    """Decide one credential offline, as a checkpoint would, and print the decision as JSON."""
    if (qr_text is None) == (image is None):
        fail("give either the QR text or --image FILE", code=2)
    try:
        root_key = read_public(root)
    except KeyFileError as exc:
        fail(str(exc))
    if image is not None:
        text = read_qr_from_image(image)
        if text is None:
            print(json.dumps({"decision": None, "reason": "no_code", "image": str(image)}))
            fail(f"no QR code found in {image}: retake the picture closer and in focus", EXIT_INPUT)
    else:
        text = sys.stdin.read().strip() if qr_text == "-" else str(qr_text)
    trust_list = _load_trust(trust, root_key)
    held = _load_revocations(revocations or [], root_key)
    now = time.time() if at is None else at
    list_times = [held_list.ts for held_list in held.lists.values()]
    if trust_list.seq:
        list_times.append(trust_list.ts)
    age = now - min(list_times) if list_times else None
    verdict = decide(
        text, trust=trust_list, revocations=held, now=now, freshness=ListFreshness(age_s=age, max_age_s=max_age)
    )
    result = verdict.to_json()
    result["trust_seq"] = trust_list.seq
    result["revocations"] = {list_id: held_list.seq for list_id, held_list in held.lists.items()}
    print(json.dumps(result, ensure_ascii=False))
