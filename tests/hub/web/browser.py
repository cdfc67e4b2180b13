"""Helpers of the Chromium tests: the hub served by uvicorn on a free loopback port, Debian's Chromium driven by
Playwright, screenshots under ``test-artifacts/dashboard/``."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI
from playwright.sync_api import Browser, ViewportSize, sync_playwright

from hub.app import WebServer
from tests.services.mosquitto import HOST, free_port

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]  # fmt: skip
START_TIMEOUT_S = 20.0
POLL_S = 0.05
ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts" / "dashboard"
BIG_SCREEN: ViewportSize = {"width": 1920, "height": 1080}
LAPTOP: ViewportSize = {"width": 1366, "height": 768}


@dataclass(frozen=True)
class Served:
    """The app's address."""

    base: str


@contextmanager
def served(app: FastAPI) -> Iterator[Served]:
    """``app`` on a free loopback port until the block ends."""
    port = free_port()
    server = WebServer(app, HOST, port)
    server.start()
    deadline = time.monotonic() + START_TIMEOUT_S
    while not server.started:
        if time.monotonic() > deadline:
            server.stop()
            raise TimeoutError(f"uvicorn did not start on port {port} within {START_TIMEOUT_S}s")
        time.sleep(POLL_S)
    try:
        yield Served(f"http://{HOST}:{port}")
    finally:
        server.stop()


@contextmanager
def chromium() -> Iterator[Browser]:
    """Headless Debian Chromium."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def shot_path(name: str) -> Path:
    """Where a screenshot goes (the folder is made)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS / f"{name}.png"
