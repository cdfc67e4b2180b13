"""Issuing GP1 passes: validity until local midnight by default, random pass ids and holder pseudonyms."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import cv2
import numpy as np
import zxingcpp

from protocol.gp1 import ID_BYTES, HealthPass, PassStatus, encode_pass
from protocol.keys import PrivateKey
from protocol.revocation import holder_rid, pass_rid

DEFAULT_TZ = "Asia/Shanghai"
QR_EC_LEVEL = "Q"  # the EU DCC's choice: survives a scratched phone screen or a creased printout
QR_SCALE = 6


@dataclass(frozen=True, slots=True)
class IssuedPass:
    """A pass and its QR text; the district keeps ``cti`` and ``hid`` to revoke it later."""

    health_pass: HealthPass
    qr_text: str

    @property
    def pass_rid(self) -> bytes:
        """The revocation id that revokes this pass."""
        return pass_rid(self.health_pass.iss, self.health_pass.cti)

    @property
    def holder_rid(self) -> bytes:
        """The revocation id that revokes every pass of this holder from this issuer."""
        return holder_rid(self.health_pass.iss, self.health_pass.hid)


def midnight_after(iat: int, tz: str = DEFAULT_TZ) -> int:
    """24:00 local time of the day ``iat`` falls on (the Beijing and Hangzhou practice)."""
    zone = ZoneInfo(tz)
    local = datetime.fromtimestamp(iat, zone)
    midnight = datetime(local.year, local.month, local.day, tzinfo=zone) + timedelta(days=1)
    return int(midnight.timestamp())


def issue(
    issuer_key: PrivateKey,
    *,
    iss: str,
    status: PassStatus,
    iat: int,
    exp: int | None = None,
    tz: str = DEFAULT_TZ,
    hid: bytes | None = None,
    cti: bytes | None = None,
    name: str | None = None,
    since: int | None = None,
) -> IssuedPass:
    """Sign a pass; ``exp`` defaults to midnight after ``iat`` in ``tz``, ids default to fresh random ones."""
    health_pass = HealthPass(
        iss=iss,
        iat=iat,
        exp=exp if exp is not None else midnight_after(iat, tz),
        cti=cti or secrets.token_bytes(ID_BYTES),
        status=status,
        hid=hid or secrets.token_bytes(ID_BYTES),
        nm=name,
        since=since,
    )
    return IssuedPass(health_pass, encode_pass(health_pass, issuer_key))


def qr_image(text: str, *, scale: int = QR_SCALE) -> np.ndarray:
    """The QR code of ``text`` as a grayscale image with its quiet zone (alphanumeric mode, EC level Q)."""
    barcode = zxingcpp.create_barcode(text, zxingcpp.BarcodeFormat.QRCode, ec_level=QR_EC_LEVEL)
    return np.asarray(zxingcpp.write_barcode_to_image(barcode, scale=scale))


def write_qr_png(text: str, path: Path, *, scale: int = QR_SCALE) -> None:
    """Write the QR code of ``text`` as a PNG file."""
    ok, encoded = cv2.imencode(".png", qr_image(text, scale=scale))
    if not ok:
        raise OSError(f"could not encode a PNG for {path}")
    path.write_bytes(encoded.tobytes())
