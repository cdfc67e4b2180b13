"""The whole path, for real: ``gridpass flash card`` prepares image files while the hub is down (queued) and up
(enrolled at once, the queue delivered along), the hub is ``gridpass hub run`` with its API on loopback and the
real mosquitto with dynamic security, and each terminal, booted from the configuration extracted from its image
(the first-boot script run into a prefix), connects with its own identity: the hub believes its signed birth."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner, Result

from cli.main import app
from device.config import load
from hardware.flash import firstboot
from hardware.flash.state import MARKER, PUBLIC_KEY_FILE, parse_state
from hub.accounts.roles import Role
from hub.broker.dynsec import DynSecAdmin
from hub.operations.audit import Actor
from hub.operations.auth import create_token
from hub.operations.users import create_user
from hub.storage.devices import DeviceStatus, get_device, list_devices
from hub.storage.engine import create_engine
from hub.storage.migrate import upgrade
from hub.storage.presence import get_presence
from protocol.keys import load_public_key_pem, spki_der
from protocol.messages import DeviceState
from tests.hardware.flash.pi_image import make_image, read_boot_files
from tests.hardware.flash.profile import PROFILE
from tests.integration.rig import HUB_PASSWORD, HUB_USER, Children, Site, wait_for
from tests.services.mosquitto import MosquittoBroker, free_port

GRIDPASS = str(Path(sys.executable).parent / "gridpass")
CLI_TIMEOUT_S = 120.0


@pytest.fixture
def site(broker: MosquittoBroker, tmp_path: Path) -> Iterator[Site]:
    """The broker with the hub's user and roles, a migrated hub database, the district root key."""
    with DynSecAdmin(broker.host, broker.port, broker.admin_user, broker.admin_password) as admin:
        admin.ensure_all()
        admin.create_hub_user(HUB_USER, HUB_PASSWORD)
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    engine = create_engine(url)
    upgrade(engine)
    try:
        yield Site(broker, engine, url, tmp_path)
    finally:
        engine.dispose()


@pytest.fixture
def children() -> Iterator[Children]:
    """Child processes, killed at teardown."""
    started = Children()
    try:
        yield started
    finally:
        started.close()


def hub_config(site: Site, port: int) -> Path:
    """``hub.toml`` with the ingest worker, the broker admin for enrolment, and the API on loopback."""
    (site.directory / "hub.pass").write_text(HUB_PASSWORD)
    (site.directory / "admin.pass").write_text(site.broker.admin_password)
    path = site.directory / "hub.toml"
    path.write_text("\n".join([
        "[database]", f"url = {json.dumps(site.db_url)}",
        "[broker]", f"host = {json.dumps(site.broker.host)}", f"port = {site.broker.port}",
        f"username = {json.dumps(HUB_USER)}", f"password_file = {json.dumps(str(site.directory / 'hub.pass'))}",
        f"admin_user = {json.dumps(site.broker.admin_user)}",
        f"admin_password_file = {json.dumps(str(site.directory / 'admin.pass'))}",
        "[worker]", 'id = "hub-1"',
        "[lists]", f"root_key = {json.dumps(str(site.root_key_file))}",
        "[web]", 'host = "127.0.0.1"', f"port = {port}", "cookie_secure = false", "",
    ]))  # fmt: skip
    return path


def start_hub(site: Site, children: Children, port: int) -> subprocess.Popen[bytes]:
    """``gridpass hub run`` until its API answers."""
    log = site.directory / "hub.log"
    process = children.spawn([GRIDPASS, "hub", "run", "--config", str(hub_config(site, port))], log)

    def up() -> bool:
        assert process.poll() is None, log.read_text()[-4000:]
        try:
            return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    wait_for(up, "the hub's API answers")
    return process


def enrolment_token(site: Site) -> Path:
    """An operator's API token, as the hub admin hands it to the technician, in a file."""
    admin = Actor("cli:test", Role.ADMIN, "local")
    create_user(site.engine, admin, "tech", Role.OPERATOR, "correct horse battery staple", now=time.time())
    token = create_token(site.engine, Actor("tech", Role.OPERATOR, "local"), "flashing", now=time.time())
    path = site.directory / "token"
    path.write_text(token.secret + "\n")
    return path


def flash_card(image: Path, site: Site, hub_port: int, token: Path, *extra: str) -> Result:
    """``gridpass flash card`` as the technician runs it (in this process, through the real command line)."""
    profile = site.directory / "test-profile.toml"
    profile.write_text(firstboot.to_toml(PROFILE))
    return CliRunner().invoke(app, [
        "flash", "card", str(image), "--profile", str(profile), "--site", "SH-PD-1",
        "--grid-cell", "G-7", "--list-id", "CN-SH-PD", "--hub", f"http://127.0.0.1:{hub_port}",
        "--broker", f"{site.broker.host}:{site.broker.port}", "--root-key", str(site.root_key_file),
        "--token-file", str(token), "--no-board", "--labels", str(site.directory / "labels"),
        "--queue-dir", str(site.directory / "queue"), "--metrics-port", "0", *extra,
    ])  # fmt: skip


def boot(image: Path, root: Path, children: Children) -> tuple[str, subprocess.Popen[bytes]]:
    """First boot of a terminal from the image: its boot files, the first-boot script, then the terminal."""
    boot_dir = root / "boot"
    for name, data in read_boot_files(image).items():
        (boot_dir / name).parent.mkdir(parents=True, exist_ok=True)
        (boot_dir / name).write_bytes(data)
    prefix = root / "rootfs"
    done = subprocess.run(
        ["sh", str(boot_dir / firstboot.SCRIPT_FILE)], env={"GRIDPASS_PREFIX": str(prefix), "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, timeout=CLI_TIMEOUT_S, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    config = prefix / "etc" / "gridpass" / "device.toml"
    device_id = load(config).device.id
    process = children.spawn(
        [sys.executable, "-m", "tests.integration.terminal_process", str(config)], root / "terminal.log"
    )
    return device_id, process


def card_key(image: Path) -> bytes:
    """The public key the card holds (DER SubjectPublicKeyInfo)."""
    return spki_der(load_public_key_pem(read_boot_files(image)[PUBLIC_KEY_FILE]))


@pytest.mark.slow
def test_flashed_cards_enrol_queued_or_at_once_and_each_terminal_connects_as_itself(
    site: Site, children: Children, tmp_path: Path
) -> None:
    port = free_port()
    token = enrolment_token(site)

    first = make_image(tmp_path / "first.img")
    queued = flash_card(first, site, port, token)
    assert queued.exit_code == 0, queued.stderr
    assert "hub could not be reached" in queued.stderr
    first_id = parse_state(read_boot_files(first)[MARKER]).device_id
    assert f"device {first_id}: enrolment queued" in queued.stdout
    assert list_devices(site.engine) == []

    start_hub(site, children, port)
    second = make_image(tmp_path / "second.img")
    wrong = site.directory / "wrong-token"
    wrong.write_text("gph_not-a-token\n")
    refused = flash_card(second, site, port, wrong)
    assert refused.exit_code == 3
    assert "the hub refused the token" in refused.stderr
    direct = flash_card(second, site, port, token)
    assert direct.exit_code == 0, direct.stderr
    second_id = parse_state(read_boot_files(second)[MARKER]).device_id
    assert f"device {second_id}: enrolment delivered" in direct.stdout
    assert f"also delivered queued enrolments: {first_id}" in direct.stdout
    assert not list((site.directory / "queue").glob("*.json"))

    synced = CliRunner().invoke(
        app, ["flash", "sync-queue", "--token-file", str(token), "--queue-dir", str(site.directory / "queue")]
    )
    assert (synced.exit_code, synced.stdout) == (0, "")

    rerun = flash_card(first, site, port, token)
    assert rerun.exit_code == 0, rerun.stderr
    assert f"device {first_id}: enrolment delivered" in rerun.stdout

    impostor = flash_card(make_image(tmp_path / "third.img"), site, port, token, "--id", first_id)
    assert impostor.exit_code == 3
    assert f"the hub already has device {first_id} with another key" in impostor.stderr

    devices = {device.id: device for device in list_devices(site.engine)}
    assert sorted(devices) == sorted([first_id, second_id])
    for device_id, image in ((first_id, first), (second_id, second)):
        assert devices[device_id].status is DeviceStatus.ENROLLED
        assert devices[device_id].public_key == card_key(image)
        assert (devices[device_id].site, devices[device_id].grid_cell) == ("SH-PD-1", "G-7")

    terminals = [boot(first, tmp_path / "t1", children), boot(second, tmp_path / "t2", children)]
    for device_id, process in terminals:

        def online(device_id: str = device_id, process: subprocess.Popen[bytes] = process) -> bool:
            assert process.poll() is None, "the terminal exited"
            view = get_presence(site.engine, device_id)
            return view is not None and view.connected and view.state is DeviceState.ONLINE

        wait_for(online, f"terminal {device_id} online at the hub with its own identity")
    assert get_device(site.engine, first_id) is not None
    assert len(list_devices(site.engine)) == 2
