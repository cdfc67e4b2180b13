"""What goes on the card for the terminal's first boot, as bytes per path (pure: no I/O here).

The ``gridpass/`` folder of the boot partition receives the device config (from the profile, with this device's
identity, hub and paths filled in), the device key pair and broker password (made by ``state``), the district root
public key, the hub's CA certificate, optional Wi-Fi, the systemd unit of the terminal, and ``firstboot.sh``.

How it runs (Raspberry Pi OS Bookworm and Trixie, the NetworkManager generations): the kernel command line in
``cmdline.txt`` gets ``systemd.run=/boot/firmware/gridpass/firstboot.sh systemd.run_success_action=reboot
systemd.unit=kernel-command-line.target``, the mechanism Raspberry Pi Imager's ``firstrun.sh`` uses. At first power-up
systemd runs the script once instead of the normal boot: it installs the files into ``/etc/gridpass`` (config, keys,
password: root and the ``gridpass`` user only) and ``/var/lib/gridpass`` (data), installs the Wi-Fi connection as
a NetworkManager keyfile, creates the user and folders and enables ``gridpass-device.service`` (all three from
``hardware/systemd``), deletes the private key, password and Wi-Fi secret from the card, takes its arguments out of
``cmdline.txt`` and reboots into the terminal. A ``systemd.run=`` already on the command line (Imager's own
``firstrun.sh``) is kept in ``gridpass/chain`` and run first.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from device.config import ConfigError, validate
from hardware.flash.errors import FlashError
from hardware.flash.state import FOLDER
from hardware.profiles import ProfileError, fill, unfilled
from protocol.keys import KeyFormatError, load_public_key_pem

ETC_DIR = "/etc/gridpass"
VAR_DIR = "/var/lib/gridpass"
BOOT_MOUNT = "/boot/firmware"
"""Where Raspberry Pi OS Bookworm and later mount the boot partition (``/boot`` before)."""
CONFIG_FILE = f"{FOLDER}/device.toml"
ROOT_KEY_FILE = f"{FOLDER}/root.pub.pem"
CA_FILE = f"{FOLDER}/hub-ca.pem"
RELEASE_KEY_FILE = f"{FOLDER}/release.pub.pem"
"""The release public key that update bundles must be signed with (``device/update``)."""
WIFI_FILE = f"{FOLDER}/wifi.nmconnection"
WIFI_COUNTRY_FILE = f"{FOLDER}/wifi-country"
SCRIPT_FILE = f"{FOLDER}/firstboot.sh"
SYSTEMD_DIR = Path(__file__).resolve().parents[1] / "systemd"
"""``hardware/systemd``: the terminal's unit and its user and directories (sysusers.d, tmpfiles.d)."""
UNIT_NAME = "gridpass-device.service"
SYSTEMD_FILES = {
    f"{FOLDER}/systemd/{UNIT_NAME}": UNIT_NAME,
    f"{FOLDER}/systemd/sysusers.conf": "sysusers.d/gridpass.conf",
    f"{FOLDER}/systemd/tmpfiles.conf": "tmpfiles.d/gridpass.conf",
}
"""Path on the card -> path under ``hardware/systemd``."""
UNIT_FILE = f"{FOLDER}/systemd/{UNIT_NAME}"
CHAIN_FILE = f"{FOLDER}/chain"
CMDLINE = "cmdline.txt"
MAX_CMDLINE_BYTES = 4096
"""The Pi firmware reads at most this much of cmdline.txt (one line)."""
MAX_CA_BYTES = 64 * 1024
SSID_MAX_BYTES = 32
PSK_MIN_CHARS, PSK_MAX_CHARS = 8, 63
_COUNTRY = re.compile(r"[A-Z]{2}")
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_RUN_ARGS = ("systemd.run=", "systemd.run_success_action=", "systemd.unit=kernel-command-line.target")


@dataclass(frozen=True, slots=True)
class Wifi:
    """A WPA2/WPA3-personal network the terminal joins."""

    ssid: str
    psk: str
    country: str

    def __post_init__(self) -> None:
        if not 1 <= len(self.ssid.encode()) <= SSID_MAX_BYTES or any(c in self.ssid for c in "\n\r\0"):
            raise FlashError("the Wi-Fi name must be 1-32 bytes on one line")
        if not PSK_MIN_CHARS <= len(self.psk) <= PSK_MAX_CHARS or not self.psk.isprintable() or not self.psk.isascii():
            raise FlashError("the Wi-Fi password must be 8-63 printable ASCII characters")
        if not _COUNTRY.fullmatch(self.country):
            raise FlashError("the Wi-Fi country must be a two-letter code such as CN or DE")


@dataclass(frozen=True, slots=True)
class Hub:
    """Where the terminal's hub is."""

    broker_host: str
    broker_port: int
    ca_pem: bytes | None


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    if isinstance(value, Mapping):  # an inline table, e.g. a grid cell inside the list of grid cells
        return "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items() if v is not None) + " }"
    raise FlashError(f"cannot write {type(value).__name__} into the device config")


def _toml_key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else _toml_value(key)


def to_toml(document: Mapping[str, Any], prefix: str = "") -> str:
    """A config dict as TOML (tables and scalars/lists, which is all a device config holds)."""
    lines: list[str] = []
    tables: list[tuple[str, Mapping[str, Any]]] = []
    for key, value in document.items():
        if isinstance(value, Mapping):
            tables.append((f"{prefix}{_toml_key(key)}", value))
        elif value is not None:
            lines.append(f"{_toml_key(key)} = {_toml_value(value)}")
    for name, table in tables:
        lines.extend(["", f"[{name}]", to_toml(table, f"{name}.").strip("\n")])
    return "\n".join(lines).strip("\n") + "\n"


def device_config(
    profile: Mapping[str, Any], *, device_id: str, profile_name: str, site: str, grid_cell: str, list_id: str, hub: Hub,
    metrics_port: int | None = None, etc_dir: str = ETC_DIR, var_dir: str = VAR_DIR,
) -> dict[str, Any]:  # fmt: skip
    """The terminal's config: the profile with its ``@NAME@`` tokens filled, identity, hub and paths set, validated."""
    values = {
        "DEVICE_ID": device_id, "SITE": site, "GRID_CELL": grid_cell, "LIST_ID": list_id,
        "BROKER_HOST": hub.broker_host, "ETC": etc_dir, "VAR": var_dir,
    }  # fmt: skip
    try:
        profile = fill(profile, values)
    except ProfileError as exc:
        raise FlashError(f"the {profile_name} profile cannot be filled in: {exc}") from exc
    left = unfilled(profile)
    if left:
        raise FlashError(f"the {profile_name} profile has placeholders the tool does not know: {left}")
    config: dict[str, Any] = {key: value for key, value in profile.items() if key not in ("device", "lists", "sync")}
    config["device"] = {
        **dict(profile.get("device", {})), "id": device_id, "profile": profile_name, "site": site,
        "grid_cell": grid_cell, "data_dir": var_dir,
    }  # fmt: skip
    config["lists"] = {**dict(profile.get("lists", {})), "root_key": f"{etc_dir}/root.pub.pem", "list_id": list_id}
    sync = {
        **dict(profile.get("sync", {})), "broker_host": hub.broker_host, "broker_port": hub.broker_port,
        "password_file": f"{etc_dir}/broker.pass", "key_file": f"{etc_dir}/device.key.pem",
    }  # fmt: skip
    if hub.ca_pem is not None:
        sync["ca_file"] = f"{etc_dir}/hub-ca.pem"
    config["sync"] = sync
    if metrics_port is not None:
        config["metrics"] = {**dict(profile.get("metrics", {})), "port": metrics_port}
    try:
        validate(config, f"profile {profile_name}")
    except ConfigError as exc:
        lines = "; ".join(f"{key}: {message}" for key, message in exc.problems)
        raise FlashError(f"the {profile_name} profile with these values is not a usable config: {lines}") from exc
    return config


def check_public_key(data: bytes, what: str = "district root key") -> bytes:
    """A public key file (the district root key, the release key), if it is one and not a private key."""
    if b"PRIVATE KEY" in data:
        raise FlashError(f"that is the PRIVATE {what}: give the public one (*.pub.pem); it must never reach a card")
    try:
        load_public_key_pem(data)
    except KeyFormatError as exc:
        raise FlashError(f"the {what} is not a PEM public key ({exc})") from exc
    return data


def check_ca(data: bytes) -> bytes:
    """The hub's CA certificate, if it is one."""
    if len(data) > MAX_CA_BYTES or b"-----BEGIN CERTIFICATE-----" not in data:
        raise FlashError("the hub CA file is not a PEM certificate")
    return data


def wifi_keyfile(wifi: Wifi, connection_uuid: uuid.UUID) -> bytes:
    """A NetworkManager keyfile (``/etc/NetworkManager/system-connections/``) for the network."""
    return "\n".join([
        "[connection]", "id=gridpass-wifi", f"uuid={connection_uuid}", "type=wifi", "autoconnect=true", "",
        "[wifi]", "mode=infrastructure", f"ssid={wifi.ssid}", "",
        "[wifi-security]", "key-mgmt=wpa-psk", f"psk={wifi.psk}", "",
        "[ipv4]", "method=auto", "", "[ipv6]", "method=auto", "",
    ]).encode()  # fmt: skip


def systemd_files(directory: Path = SYSTEMD_DIR) -> dict[str, bytes]:
    """The terminal's systemd unit, user and directories, as the card carries them."""
    try:
        return {card: (directory / source).read_bytes() for card, source in SYSTEMD_FILES.items()}
    except OSError as exc:
        raise FlashError(f"the terminal's systemd files in {directory} cannot be read ({exc.strerror})") from exc


FIRSTBOOT_SCRIPT = r"""#!/bin/sh
# gridpass first boot, written by `gridpass flash`: installs what is in this folder, removes the secrets from the
# card, and (as root on the terminal) enables the service and restores cmdline.txt. GRIDPASS_PREFIX installs under
# another root instead (a test, or preparing a chroot); then nothing of the running system is touched.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd -P)
BOOT=$(dirname "$HERE")
PREFIX=${GRIDPASS_PREFIX:-}
ETC="$PREFIX@ETC@"
VAR="$PREFIX@VAR@"
if [ -f "$HERE/chain" ] && [ -z "$PREFIX" ]; then
    sh "$(cat "$HERE/chain")" || echo "gridpass: the chained first-boot script failed; going on" >&2
fi
umask 077
mkdir -p "$ETC" "$VAR"
install -m 0600 "$HERE/device.key.pem" "$ETC/device.key.pem"
install -m 0600 "$HERE/broker.pass" "$ETC/broker.pass"
install -m 0644 "$HERE/device.pub.pem" "$HERE/root.pub.pem" "$ETC/"
if [ -f "$HERE/hub-ca.pem" ]; then install -m 0644 "$HERE/hub-ca.pem" "$ETC/hub-ca.pem"; fi
if [ -f "$HERE/release.pub.pem" ]; then install -m 0644 "$HERE/release.pub.pem" "$ETC/release.pub.pem"; fi
sed -e "s#\"@ETC@/#\"$ETC/#g" -e "s#\"@VAR@\"#\"$VAR\"#g" "$HERE/device.toml" > "$ETC/device.toml.new"
chmod 0644 "$ETC/device.toml.new"
mv "$ETC/device.toml.new" "$ETC/device.toml"
if [ -f "$HERE/wifi.nmconnection" ]; then
    mkdir -p "$PREFIX/etc/NetworkManager/system-connections"
    install -m 0600 "$HERE/wifi.nmconnection" "$PREFIX/etc/NetworkManager/system-connections/gridpass-wifi.nmconnection"
fi
if [ -z "$PREFIX" ]; then
    install -m 0644 "$HERE/systemd/sysusers.conf" /etc/sysusers.d/gridpass.conf
    install -m 0644 "$HERE/systemd/tmpfiles.conf" /etc/tmpfiles.d/gridpass.conf
    systemd-sysusers /etc/sysusers.d/gridpass.conf
    systemd-tmpfiles --create /etc/tmpfiles.d/gridpass.conf
    chown -R gridpass:gridpass "$VAR"
    chown root:gridpass "$ETC" "$ETC"/*
    chmod 0750 "$ETC"
    chmod 0640 "$ETC/device.key.pem" "$ETC/broker.pass"
    install -m 0644 "$HERE/systemd/@UNIT@" /etc/systemd/system/@UNIT@
    systemctl enable @UNIT@
    if [ -f "$HERE/wifi-country" ] && command -v raspi-config >/dev/null; then
        raspi-config nonint do_wifi_country "$(cat "$HERE/wifi-country")"
    fi
    sed -i -e 's| systemd\.run=[^ ]*||g' -e 's| systemd\.run_success_action=[^ ]*||g' \
        -e 's| systemd\.unit=kernel-command-line\.target||g' "$BOOT/cmdline.txt"
fi
rm -f "$HERE/device.key.pem" "$HERE/broker.pass" "$HERE/wifi.nmconnection"
sync
echo "gridpass: first boot done: $(sed -n 's/^id = //p' "$ETC/device.toml")"
"""


def firstboot_script(etc_dir: str = ETC_DIR, var_dir: str = VAR_DIR) -> bytes:
    """The script systemd runs once at first power-up."""
    return FIRSTBOOT_SCRIPT.replace("@ETC@", etc_dir).replace("@VAR@", var_dir).replace("@UNIT@", UNIT_NAME).encode()


def edit_cmdline(cmdline: bytes, boot_mount: str = BOOT_MOUNT) -> tuple[bytes, str | None]:
    """``cmdline.txt`` with the first-boot arguments (once), and the ``systemd.run`` target it had, to chain."""
    if len(cmdline) > MAX_CMDLINE_BYTES:
        raise FlashError("cmdline.txt is longer than the firmware reads: not a usable boot partition")
    try:
        words = cmdline.decode("ascii").split()
    except UnicodeDecodeError as exc:
        raise FlashError("cmdline.txt is not plain text: not a usable boot partition") from exc
    ours = f"{boot_mount}/{SCRIPT_FILE}"
    chained = None
    kept = []
    for word in words:
        if word.startswith("systemd.run="):
            target = word.removeprefix("systemd.run=")
            if target != ours:
                chained = target
            continue
        if word.startswith(_RUN_ARGS):
            continue
        kept.append(word)
    kept += [f"systemd.run={ours}", "systemd.run_success_action=reboot", "systemd.unit=kernel-command-line.target"]
    return (" ".join(kept) + "\n").encode(), chained


def card_files(
    config: Mapping[str, Any], *, root_key_pem: bytes, hub: Hub, wifi: Wifi | None, wifi_uuid: uuid.UUID,
    release_key_pem: bytes | None = None, etc_dir: str = ETC_DIR, var_dir: str = VAR_DIR,
) -> dict[str, bytes]:  # fmt: skip
    """Every file of the ``gridpass/`` folder besides the identity (key, password, marker), by path."""
    files = {
        CONFIG_FILE: to_toml(config).encode(),
        ROOT_KEY_FILE: check_public_key(root_key_pem),
        SCRIPT_FILE: firstboot_script(etc_dir, var_dir),
        **systemd_files(),
    }
    if hub.ca_pem is not None:
        files[CA_FILE] = check_ca(hub.ca_pem)
    if release_key_pem is not None:
        files[RELEASE_KEY_FILE] = check_public_key(release_key_pem, "release key")
    if wifi is not None:
        files[WIFI_FILE] = wifi_keyfile(wifi, wifi_uuid)
        files[WIFI_COUNTRY_FILE] = (wifi.country + "\n").encode()
    for path in files:
        assert PurePosixPath(path).parts[0] == FOLDER  # noqa: S101 - every file stays in the folder
    return files


def secret_files() -> tuple[str, ...]:
    """What first boot deletes from the card (for the docs and the tests)."""
    return (f"{FOLDER}/device.key.pem", f"{FOLDER}/broker.pass", WIFI_FILE)
