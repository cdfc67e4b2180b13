"""A small profile for the flashing tests (a terminal that runs anywhere: synthetic camera, console signals)."""

from __future__ import annotations

from typing import Any

from protocol.keys import Alg, generate_private_key, public_key_pem

PROFILE: dict[str, Any] = {
    "device": {"profile": "scanner"},
    "camera": {"kind": "synthetic", "width": 640, "height": 480},
    "signal": {"indicator": "console"},
    "metrics": {"port": 0},
}
ROOT_PUBLIC_PEM = public_key_pem(generate_private_key(Alg.EDDSA).public_key())
