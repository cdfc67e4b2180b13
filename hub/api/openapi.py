"""The committed OpenAPI document: ``python -m hub.api.openapi`` writes ``docs/openapi.json`` from the app, and a
test fails when the committed copy differs from what the code generates."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hub.api.services import HubServices
from hub.app import create_app
from hub.config import WebSection
from hub.storage.engine import create_engine

DOC_PATH = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"


def generate() -> dict[str, Any]:
    """The API's OpenAPI document (built on an engine that never connects)."""
    engine = create_engine("sqlite://")
    try:
        document: dict[str, Any] = create_app(WebSection(), HubServices(engine, lambda: 0.0)).openapi()
    finally:
        engine.dispose()
    return document


def render() -> str:
    """The document as committed: indented, keys in the app's order, a final newline."""
    return json.dumps(generate(), indent=2, ensure_ascii=False) + "\n"


def main() -> None:
    """Write ``docs/openapi.json``."""
    DOC_PATH.write_text(render(), encoding="utf-8")


if __name__ == "__main__":
    main()
