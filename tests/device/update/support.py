"""Real wheels, bundles and a running "service" for the update tests.

The wheels hold a tiny app, ``gpapp``: a healthy version writes ``status.json`` (its version, no problems) every
50 ms until SIGTERM, as a terminal's housekeeping does; an unhealthy one reports that its camera gives no frames
and exits, as a terminal whose new version cannot open its camera would.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
import subprocess
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ed25519

from device.update.health import Check, FatalCheckError, StatusFileCheck
from device.update.installer import CURRENT
from hardware.release.build import build_bundle

MAIN = """
import json, os, signal, sys, time
from gpapp import HEALTHY, VERSION

def main():
    directory = os.environ["GPAPP_DIR"]
    if not HEALTHY:
        print("camera: no frames from /dev/video0", file=sys.stderr)
        return 1
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
    while not stop:
        path = os.path.join(directory, "status.json")
        with open(path + ".tmp", "w") as out:
            json.dump({"version": VERSION, "problems": []}, out)
        os.replace(path + ".tmp", path)
        time.sleep(0.05)
    return 0
"""
WAIT_S = 30.0
EXIT_WAIT_S = 10.0


def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def make_wheel(directory: Path, version: str, *, healthy: bool = True) -> Path:
    """A real pure-Python wheel of ``gpapp`` at ``version``."""
    info = f"gpapp-{version}.dist-info"
    files = {
        "gpapp/__init__.py": f"VERSION = {version!r}\nHEALTHY = {healthy!r}\n".encode(),
        "gpapp/main.py": MAIN.encode(),
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: gpapp\nVersion: {version}\n".encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: gridpass-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = "".join(f"{name},{_record_hash(data)},{len(data)}\n" for name, data in files.items())
    files[f"{info}/RECORD"] = (record + f"{info}/RECORD,,\n").encode()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"gpapp-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as wheel:
        for name, data in files.items():
            wheel.writestr(name, data)
    return path


def make_bundle(directory: Path, version: str, key: ed25519.Ed25519PrivateKey | None, *, healthy: bool = True) -> Path:
    """A bundle of ``gpapp`` at ``version`` signed with ``key`` (None: unsigned)."""
    out = directory / f"gpapp-{version}.bundle"
    wheel = make_wheel(directory / f"wheels-{version}", version, healthy=healthy)
    build_bundle([wheel], version=version, out=out, key=key, name="gpapp", entry="gpapp.main:main", command="gpapp")
    return out


@dataclass
class Service:
    """What systemd does for the terminal: runs ``current/bin/gpapp``, restarted on request."""

    root: Path
    data: Path
    process: subprocess.Popen[bytes] | None = None
    starts: list[str] = field(default_factory=list)

    def restart(self) -> None:
        """Stop what runs, start what ``current`` names (nothing, when there is no current)."""
        self.stop()
        launcher = self.root / CURRENT / "bin" / "gpapp"
        if launcher.exists():
            self.starts.append(str((self.root / CURRENT).readlink()))
            self.process = subprocess.Popen(
                [str(launcher)], env={**os.environ, "GPAPP_DIR": str(self.data)}, stderr=subprocess.PIPE
            )

    def stop(self) -> None:
        """SIGTERM and reap."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(EXIT_WAIT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(EXIT_WAIT_S)
        if self.process is not None and self.process.stderr is not None:
            self.process.stderr.close()
        self.process = None

    def running_version(self) -> str | None:
        """The version the running app last wrote into its status, once it is fresh."""
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            try:
                status = self.data / "status.json"
                if (
                    self.process is not None
                    and self.process.poll() is None
                    and status.stat().st_mtime > time.time() - 1
                ):
                    return str(json.loads(status.read_text())["version"])
            except (OSError, ValueError, KeyError):
                pass
            time.sleep(0.05)
        return None

    def checks(self, since: float) -> list[Check]:
        """The health checks of an attempt: the process lives, and it wrote its status after the switch."""
        service = self

        class Alive:
            name = "service"

            def __call__(self) -> str | None:
                process = service.process
                if process is None:
                    raise FatalCheckError("the service is not running")
                code = process.poll()
                if code is not None:
                    error = process.stderr.read().decode().strip() if process.stderr else ""
                    raise FatalCheckError(f"the service exited {code}: {error}")
                return None

        return [Alive(), StatusFileCheck(self.data / "status.json", lambda: since)]
