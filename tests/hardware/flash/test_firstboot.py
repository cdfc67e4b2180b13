"""What goes on the card, and the first-boot script run for real (into a prefix instead of the live system)."""

from __future__ import annotations

import subprocess
import tomllib
import uuid
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from device.config import load, validate
from hardware.flash import firstboot
from hardware.flash.errors import FlashError
from hardware.flash.firstboot import Hub, Wifi, card_files, device_config, edit_cmdline, to_toml
from tests.hardware.flash.profile import PROFILE, ROOT_PUBLIC_PEM

HUB = Hub("hub.example", 8883, b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
CMDLINE = b"console=serial0,115200 console=tty1 root=PARTUUID=abcd-02 rootfstype=ext4 rootwait\n"


def config(**changes: object) -> dict[str, object]:
    """The test profile as a device config."""
    values: dict[str, object] = {
        "device_id": "scanner-01", "profile_name": "scanner", "site": "SH-PD-1", "grid_cell": "G-7",
        "list_id": "CN-SH-PD", "hub": HUB, **changes,
    }  # fmt: skip
    return device_config(PROFILE, **values)  # type: ignore[arg-type]


def test_the_config_carries_identity_hub_and_the_installed_paths() -> None:
    document = config()
    loaded = validate(tomllib.loads(to_toml(document)))
    assert loaded.device.id == "scanner-01"
    assert loaded.device.grid_cell == "G-7"
    assert str(loaded.device.data_dir) == "/var/lib/gridpass"
    assert loaded.sync is not None
    assert (loaded.sync.broker_host, loaded.sync.broker_port) == ("hub.example", 8883)
    assert str(loaded.sync.key_file) == "/etc/gridpass/device.key.pem"
    assert str(loaded.sync.ca_file) == "/etc/gridpass/hub-ca.pem"
    assert loaded.camera.kind == "synthetic"


def test_a_profile_that_does_not_make_a_valid_config_is_refused_with_its_key() -> None:
    with pytest.raises(FlashError, match="list_id"):
        config(list_id="not a list id")
    with pytest.raises(FlashError, match="ca_file is required"):
        config(hub=Hub("hub.example", 8883, None))


def test_the_kernel_command_line_gets_the_first_boot_arguments_once() -> None:
    once, chained = edit_cmdline(CMDLINE)
    twice, chained_again = edit_cmdline(once)
    assert once == twice
    assert chained is None
    assert chained_again is None
    words = once.decode().split()
    assert words[:5] == CMDLINE.decode().split()
    assert "systemd.run=/boot/firmware/gridpass/firstboot.sh" in words
    assert once.count(b"\n") == 1


def test_imagers_own_first_run_script_is_chained_not_lost() -> None:
    imager = CMDLINE.strip() + b" systemd.run=/boot/firstrun.sh systemd.run_success_action=reboot"
    edited, chained = edit_cmdline(imager + b" systemd.unit=kernel-command-line.target\n")
    assert chained == "/boot/firstrun.sh"
    assert edited.count(b"systemd.run=") == 1
    assert edited.count(b"systemd.unit=") == 1


def test_a_binary_cmdline_is_refused() -> None:
    with pytest.raises(FlashError, match="not plain text"):
        edit_cmdline(b"\xff\xfe")


@given(st.dictionaries(st.text(min_size=1, max_size=8), st.one_of(
    st.integers(-(2**40), 2**40), st.booleans(), st.text(max_size=30), st.lists(st.integers(0, 9), max_size=3),
    st.floats(allow_nan=False, allow_infinity=False),
), max_size=6))  # fmt: skip
def test_toml_round_trips(table: dict[str, object]) -> None:
    assert tomllib.loads(to_toml({"section": table})) == ({"section": table})


@pytest.mark.parametrize(
    ("ssid", "psk", "country", "message"),
    [("", "password1", "CN", "name"), ("x" * 33, "password1", "CN", "name"), ("a\nb", "password1", "CN", "name"),
     ("net", "short", "CN", "password"), ("net", "pässwort1", "CN", "password"), ("net", "password1", "cn", "country")],
)  # fmt: skip
def test_bad_wifi_settings_are_refused(ssid: str, psk: str, country: str, message: str) -> None:
    with pytest.raises(FlashError, match=message):
        Wifi(ssid, psk, country)


def test_the_first_boot_script_installs_everything_and_removes_the_secrets(tmp_path: Path) -> None:
    boot = tmp_path / "boot"
    files = card_files(
        config(), root_key_pem=ROOT_PUBLIC_PEM, hub=HUB, wifi=Wifi("depot", "password1", "CN"), wifi_uuid=uuid.uuid4()
    )
    files |= {"gridpass/device.key.pem": b"KEY", "gridpass/broker.pass": b"PASS\n", "gridpass/device.pub.pem": b"PUB"}
    for path, data in files.items():
        (boot / path).parent.mkdir(parents=True, exist_ok=True)
        (boot / path).write_bytes(data)
    prefix = tmp_path / "root"
    result = subprocess.run(
        ["sh", str(boot / firstboot.SCRIPT_FILE)], env={"GRIDPASS_PREFIX": str(prefix), "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert 'first boot done: "scanner-01"' in result.stdout
    etc = prefix / "etc" / "gridpass"
    assert (etc / "device.key.pem").read_bytes() == b"KEY"
    assert (etc / "device.key.pem").stat().st_mode & 0o777 == 0o600
    assert (etc / "broker.pass").stat().st_mode & 0o777 == 0o600
    assert (etc / "root.pub.pem").read_bytes() == ROOT_PUBLIC_PEM
    wifi = prefix / "etc" / "NetworkManager" / "system-connections" / "gridpass-wifi.nmconnection"
    assert "ssid=depot" in wifi.read_text()
    assert wifi.stat().st_mode & 0o777 == 0o600
    installed = load(etc / "device.toml")
    assert installed.device.data_dir == prefix / "var" / "lib" / "gridpass"
    assert installed.sync is not None
    assert installed.sync.key_file == etc / "device.key.pem"
    assert installed.lists.root_key == etc / "root.pub.pem"
    for secret in firstboot.secret_files():
        assert not (boot / secret).exists()
    assert (boot / "gridpass" / "device.pub.pem").exists()


def test_a_private_key_never_goes_on_the_card() -> None:
    from protocol.keys import Alg, generate_private_key, private_key_pem

    secret = private_key_pem(generate_private_key(Alg.EDDSA))
    with pytest.raises(FlashError, match="PRIVATE district root key"):
        card_files(config(), root_key_pem=secret, hub=HUB, wifi=None, wifi_uuid=uuid.uuid4())
    with pytest.raises(FlashError, match="PRIVATE release key"):
        card_files(config(), root_key_pem=ROOT_PUBLIC_PEM, hub=HUB, wifi=None, wifi_uuid=uuid.uuid4(),
                   release_key_pem=secret)  # fmt: skip
    with pytest.raises(FlashError, match="not a PEM public key"):
        card_files(config(), root_key_pem=b"hello", hub=HUB, wifi=None, wifi_uuid=uuid.uuid4())
