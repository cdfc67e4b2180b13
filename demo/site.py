"""One machine's whole district, as separate processes on loopback: a mosquitto of its own, the reference district
center, a hub (ingest, web app, relay) on SQLite, and terminals, each provisioned the way the field does it
(a key pair made for it, pre-authorised at the hub through the operators' API, a config file of its own).

The demo and the drills build a ``Site``, then start, stop, kill and cut its parts; nothing here decides what
happens when (``demo/day.py`` and ``demo/drill.py`` do).
"""

from __future__ import annotations

import random
import secrets
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from demo.gps_feed import GpsFeed
from demo.people import DISTRICT_LIST, District, script_for
from demo.processes import Child, Supervisor, gridpass_command, wait_until
from district.keyfiles import keygen, read_private, read_public
from hardware.flash.firstboot import to_toml
from hub.broker.dynsec import DynSecAdmin
from hub.broker.local import LocalBroker, free_port, start_local_broker
from protocol.device_config import make_delegation
from protocol.keys import Alg, generate_private_key, private_key_pem, public_key_pem

HUB_USER = "hub"
HUB_NAME = "SH-PD-hub-1"
OPERATOR = "operator"
SITES = ("SH-PD-METRO-2", "SH-PD-COMPOUND-7")
GRID_CELLS = ("310115-001-03", "310115-002-11")
GRID_CELL_POLYGON = [[31.20, 121.50], [31.20, 121.52], [31.22, 121.52], [31.22, 121.50]]
"""The handheld's grid cell, as (lat, lon) vertices: a block of Pudong."""
GRID_CELL_CENTER = (31.2103, 121.5104)
START_S = 60.0
HTTP_TIMEOUT_S = 10.0
FPS = 10


class SiteError(RuntimeError):
    """The site could not be set up; the message says what failed and where its log is."""


@dataclass
class Terminal:
    """One provisioned terminal and its process."""

    device_id: str
    profile: str
    site: str
    grid_cell: str
    directory: Path
    config_file: Path
    child: Child
    retired: bool = False
    """Replaced and decommissioned: not started again."""
    web_port: int | None = None
    """A handheld's touch screen page on 127.0.0.1."""

    @property
    def database(self) -> Path:
        """Its SQLite store."""
        return self.directory / "data" / "device.db"


@dataclass
class Site:
    """Everything started for one run, and where it keeps its files."""

    directory: Path
    district: District
    rng: random.Random
    supervisor: Supervisor
    broker: LocalBroker | None = None
    district_port: int = 0
    web_port: int = 0
    hub_db: Path = field(default_factory=Path)
    hub_config: Path = field(default_factory=Path)
    operator_password: str = ""
    token: str = ""
    terminals: dict[str, Terminal] = field(default_factory=dict)
    hub: Child | None = None
    center: Child | None = None
    gps: GpsFeed | None = None
    """The simulated GPS receiver of the handheld (a pty speaking NMEA)."""

    # --- the services ---------------------------------------------------------------------------------------

    def start_broker(self) -> None:
        """mosquitto on a free loopback port, with the hub's broker user."""
        self.broker = start_local_broker(self.directory / "mosquitto")
        hub_password = secrets.token_urlsafe(18)
        (self.directory / "hub.broker-pass").write_text(hub_password)
        (self.directory / "broker-admin.pass").write_text(self.broker.admin_password)
        with self._admin() as admin:
            admin.ensure_all()
            admin.create_hub_user(HUB_USER, hub_password)

    def _admin(self) -> DynSecAdmin:
        assert self.broker is not None  # noqa: S101 - started first
        return DynSecAdmin(self.broker.host, self.broker.port, self.broker.admin_user, self.broker.admin_password)

    def start_district_center(self) -> None:
        """The reference district center, serving the district's lists and taking the hub's relay."""
        tokens, token = self.directory / "district-center" / "hubs.tokens", self.directory / "hub.district-token"
        tokens.parent.mkdir(parents=True, exist_ok=True)
        _run(gridpass_command("district", "hub-token", HUB_NAME, "--tokens", str(tokens), "--out", str(token)))
        self.district_port = free_port()
        self.center = self.supervisor.add(
            "district-center",
            gridpass_command(
                "district", "serve", "--data", str(self.directory / "district-center"), "--tokens", str(tokens),
                "--root", str(self.district.root_public), "--trust-list", str(self.district.trust_list),
                "--ledger", str(self.district.ledger), "--port", str(self.district_port),
            ),
        )  # fmt: skip
        self.center.start()
        self._wait_http(f"{self.district_url}/v1/health", self.center)

    @property
    def district_url(self) -> str:
        """The district center's base URL."""
        return f"http://127.0.0.1:{self.district_port}"

    @property
    def web_url(self) -> str:
        """The hub's dashboard and API."""
        return f"http://127.0.0.1:{self.web_port}"

    def write_hub_config(self, *, district_pull_s: float = 5.0) -> None:
        """The hub's TOML: SQLite, the broker with its admin (enrolment through the API), the web app, the relay to
        the district center, and the config signing key the district delegated."""
        assert self.broker is not None  # noqa: S101
        signer_key, signer_pub = keygen(self.directory, "hub-config", Alg.EDDSA)[:2]
        now = int(time.time())
        delegation = make_delegation(
            read_private(self.district.root_key), HUB_NAME, read_public(signer_pub), nbf=now - 300, exp=now + 86400
        )
        (self.directory / "hub-config.delegation").write_bytes(delegation)
        self.web_port = free_port()
        self.hub_db = self.directory / "hub.db"
        config: dict[str, Any] = {
            "database": {"url": f"sqlite:///{self.hub_db}"},
            "broker": {
                "host": self.broker.host, "port": self.broker.port, "username": HUB_USER,
                "password_file": str(self.directory / "hub.broker-pass"),
                "admin_user": self.broker.admin_user,
                "admin_password_file": str(self.directory / "broker-admin.pass"),
            },
            "worker": {"id": "hub-1"},
            "lists": {"root_key": str(self.district.root_public)},
            "config_push": {
                "key_file": str(signer_key), "delegation_file": str(self.directory / "hub-config.delegation"),
            },
            "web": {"host": "127.0.0.1", "port": self.web_port, "cookie_secure": False},
            "district": {
                "url": self.district_url, "token_file": str(self.directory / "hub.district-token"),
                "pull_interval_s": district_pull_s,
            },
        }  # fmt: skip
        self.hub_config = self.directory / "hub.toml"
        self.hub_config.write_text(to_toml(config))

    def create_operator(self) -> None:
        """The first admin account (the CLI, as on a fresh hub) and an API token for the demo's own calls."""
        self.operator_password = secrets.token_urlsafe(12)
        password_file = self.directory / "operator.pass"
        password_file.write_text(self.operator_password)
        hub_cli = ("hub", "user", "create", "--config", str(self.hub_config))
        _run(gridpass_command(*hub_cli, OPERATOR, "--role", "admin", "--password-file", str(password_file)))
        token_file = self.directory / "operator.token"
        _run(
            gridpass_command(
                "hub", "token", "create", "--config", str(self.hub_config), "--user", OPERATOR, "--name", "demo",
                "--ttl-days", "1", "--out", str(token_file),
            )
        )  # fmt: skip
        self.token = token_file.read_text().strip()

    def start_hub(self) -> None:
        """``gridpass hub run``: ingest, web app, relay."""
        self.hub = self.hub or self.supervisor.add(
            "hub", gridpass_command("hub", "run", "--config", str(self.hub_config))
        )
        self.hub.start()
        self._wait_http(f"{self.web_url}/healthz", self.hub)

    def _wait_http(self, url: str, child: Child) -> None:
        def up() -> bool:
            child.check_alive()
            try:
                return httpx.get(url, timeout=1.0).status_code < 500
            except httpx.HTTPError:
                return False

        if not wait_until(up, START_S):
            raise SiteError(f"{child.name} did not answer on {url} within {START_S:.0f} s:\n{child.tail()}")

    # --- terminals -------------------------------------------------------------------------------------------

    def provision(self, device_id: str, profile: str, site: str, grid_cell: str, *, people: int = 0) -> Terminal:
        """A key pair made here (the private key never leaves the terminal's folder), the terminal pre-authorised
        at the hub through its API (which also gives it its broker credentials), and its config file."""
        assert self.broker is not None  # noqa: S101
        directory = self.directory / "terminals" / device_id
        directory.mkdir(parents=True, exist_ok=True)
        key = generate_private_key(Alg.EDDSA)
        (directory / "device.key.pem").write_bytes(private_key_pem(key))
        (directory / "device.key.pem").chmod(0o600)
        password = secrets.token_urlsafe(18)
        (directory / "broker.pass").write_text(password)
        (directory / "broker.pass").chmod(0o600)
        response = httpx.post(
            f"{self.web_url}/api/v1/devices",
            headers={"Authorization": f"Bearer {self.token}"},
            json={
                "id": device_id, "public_key_pem": public_key_pem(key.public_key()).decode(), "profile": profile,
                "site": site, "grid_cell": grid_cell or None, "broker_password": password,
            },
            timeout=HTTP_TIMEOUT_S,
        )  # fmt: skip
        if response.status_code not in (200, 201):
            raise SiteError(f"the hub refused to pre-authorise {device_id}: {response.status_code} {response.text}")
        config = self._terminal_config(directory, device_id, profile, site, grid_cell, people)
        config_file = directory / "terminal.toml"
        config_file.write_text(to_toml(config))
        child = self.supervisor.add(device_id, gridpass_command("device", "run", "--config", str(config_file)))
        web_port = config.get("handheld", {}).get("web_port")
        terminal = Terminal(device_id, profile, site, grid_cell, directory, config_file, child, web_port=web_port)
        self.terminals[device_id] = terminal
        return terminal

    def _terminal_config(  # noqa: PLR0917 - one terminal's facts, in the order provision takes them
        self, directory: Path, device_id: str, profile: str, site: str, grid_cell: str, people: int
    ) -> dict[str, Any]:
        assert self.broker is not None  # noqa: S101
        config: dict[str, Any] = {
            "device": {
                "id": device_id, "profile": profile, "site": site, "grid_cell": grid_cell,
                "data_dir": str(directory / "data"),
            },
            "signal": {"indicator": "console", "gate": "console"},
            "lists": {"root_key": str(self.district.root_public), "list_id": DISTRICT_LIST},
            "metrics": {"port": 0},
            "sync": {
                "broker_host": self.broker.host, "broker_port": self.broker.port,
                "password_file": str(directory / "broker.pass"), "key_file": str(directory / "device.key.pem"),
                "ack_timeout_s": 5.0,
            },
        }  # fmt: skip
        if profile == "camera":
            config["camera"] = {
                "kind": "scene",
                "width": 640,
                "height": 480,
                "fps": FPS,
                "seed": self.rng.randrange(1000),
            }
            config["snapshots"] = {"periodic_s": 60.0, "jpeg_quality": 70, "max_width": 640}
        else:
            script = directory / "people.txt"
            script.write_text(script_for(self.district.people, self.rng, people))
            config["camera"] = {"kind": "synthetic", "source": str(script), "width": 640, "height": 480, "fps": FPS}
        if profile == "handheld":
            config["handheld"] = {
                "web_port": free_port(),
                "gps": {"kind": "nmea", "port": str(self._gps().port), "baud": 9600},
                "grid_cells": [{"code": grid_cell or GRID_CELLS[1], "polygon": GRID_CELL_POLYGON}],
            }  # fmt: skip
        return config

    def _gps(self) -> GpsFeed:
        if self.gps is None:
            lat, lon = GRID_CELL_CENTER
            self.gps = GpsFeed(lat, lon, self.rng.randrange(1000))
            self.gps.start()
        return self.gps

    def start_terminal(self, device_id: str) -> None:
        """Start (again) a terminal's process."""
        self.terminals[device_id].child.start()

    def decommission(self, device_id: str) -> None:
        """An operator retires a terminal through the API: broker access and signatures revoked at once."""
        response = httpx.post(
            f"{self.web_url}/api/v1/devices/{device_id}/decommission",
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=HTTP_TIMEOUT_S,
        )
        if response.status_code >= 300:
            raise SiteError(f"the hub refused to decommission {device_id}: {response.status_code} {response.text}")

    @property
    def district_token(self) -> str:
        """The hub's bearer token at the district center (the demo reads counts with it)."""
        return (self.directory / "hub.district-token").read_text().strip()

    # --- faults ----------------------------------------------------------------------------------------------

    def cut_network(self) -> None:
        """Every terminal loses the hub: the broker stops (its persistence is kept)."""
        assert self.broker is not None  # noqa: S101
        self.broker.stop()

    def restore_network(self) -> None:
        """The broker is back on the same port with what it kept."""
        assert self.broker is not None  # noqa: S101
        self.broker.start()

    def close(self) -> None:
        """Stop every process and the broker."""
        self.supervisor.close()
        if self.broker is not None:
            self.broker.stop()
        if self.gps is not None:
            self.gps.close()

    # --- reading ---------------------------------------------------------------------------------------------

    def devices(self) -> dict[str, dict[str, Any]]:
        """The hub's inventory with presence and stream progress, by device id."""
        return {device["id"]: device for device in self.api("/api/v1/devices")}

    def hub_holds(self, expected: dict[str, int]) -> bool:
        """Whether the hub holds every scan event up to ``expected[device]`` of each device (contiguously)."""
        try:
            devices = self.devices()
        except httpx.HTTPError:
            return False
        return all(hub_upto(devices.get(device, {})) >= count for device, count in expected.items())

    def api(self, path: str) -> Any:  # noqa: ANN401 - JSON
        """GET the hub's API with the operator's token."""
        response = httpx.get(
            f"{self.web_url}{path}", headers={"Authorization": f"Bearer {self.token}"}, timeout=HTTP_TIMEOUT_S
        )
        response.raise_for_status()
        return response.json()


def hub_upto(device: dict[str, Any]) -> int:
    """The hub's contiguous scan-event progress of one device from its inventory entry."""
    return next((int(s["contiguous_upto"]) for s in device.get("streams", []) if s["stream"] == "events"), 0)


def _run(command: list[str]) -> str:
    """A short gridpass command; its output, or a SiteError with it."""
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)  # noqa: S603
    if done.returncode != 0:
        raise SiteError(f"{' '.join(command[2:5])} failed ({done.returncode}): {done.stderr.strip()[-800:]}")
    return done.stdout


def new_site(directory: Path, district: District, rng: random.Random) -> Site:
    """An empty site in ``directory`` (nothing started yet)."""
    directory.mkdir(parents=True, exist_ok=True)
    return Site(directory, district, rng, Supervisor(directory))
