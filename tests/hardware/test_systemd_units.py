"""The systemd units of the terminal and the hub: notify with a watchdog, journald, the gridpass user, hardened, and
clean under ``systemd-analyze verify``; the sysusers.d and tmpfiles.d snippets make that user and its directories."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

SYSTEMD_DIR = Path(__file__).resolve().parents[2] / "hardware" / "systemd"
UNITS = sorted(path.name for path in SYSTEMD_DIR.glob("*.service"))
EXEC = "/opt/gridpass/current/bin/gridpass"
TOOL_TIMEOUT_S = 60.0
HARDENING = {
    "NoNewPrivileges": "yes",
    "CapabilityBoundingSet": "",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "ReadWritePaths": "/var/lib/gridpass",
    "RestrictSUIDSGID": "yes",
    "SystemCallFilter": "@system-service",
    "DevicePolicy": "closed",
}


def directives(unit: str) -> dict[str, list[str]]:
    """Every ``Key=value`` of a unit file, values in order (keys may repeat)."""
    found: dict[str, list[str]] = {}
    for raw in (SYSTEMD_DIR / unit).read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if line and not line.startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            found.setdefault(key.strip(), []).append(value.strip())
    return found


def test_the_units_of_the_issue_are_there() -> None:
    assert UNITS == ["gridpass-device.service", "gridpass-hub.service", "gridpass-hub@.service"]


@pytest.mark.parametrize("unit", UNITS)
def test_notify_watchdog_journal_user_and_paths(unit: str) -> None:
    found = directives(unit)
    assert found["Type"] == ["notify"]
    assert found["NotifyAccess"] == ["main"]
    assert int(found["WatchdogSec"][0]) >= 30
    assert found["Restart"] == ["always"]
    assert found["StandardOutput"] == found["StandardError"] == ["journal"]
    assert found["User"] == found["Group"] == ["gridpass"]
    assert found["StateDirectory"] == found["ConfigurationDirectory"] == ["gridpass"]
    (command,) = found["ExecStart"]
    assert command.startswith(EXEC + " ")
    assert " --config /etc/gridpass/" in command
    for key, value in HARDENING.items():
        assert found.get(key) == [value], key


def test_the_terminal_reaches_only_its_devices() -> None:
    found = directives("gridpass-device.service")
    allowed = {entry.split()[0] for entry in found["DeviceAllow"]}
    assert allowed == {
        "char-ttyACM", "char-ttyUSB", "char-ttyAMA", "char-ttyS", "char-video4linux", "char-media",
        "char-dma_heap", "char-gpiochip",
    }  # fmt: skip
    assert found["SupplementaryGroups"] == ["dialout video gpio"]
    assert "PrivateDevices" not in found


def test_the_hub_reaches_no_device_and_each_template_instance_its_own_config() -> None:
    assert directives("gridpass-hub.service")["PrivateDevices"] == ["yes"]
    template = directives("gridpass-hub@.service")
    assert template["ExecStart"] == [f"{EXEC} hub run --config /etc/gridpass/hub-%i.toml"]
    assert template["SyslogIdentifier"] == ["gridpass-hub-%i"]


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed here (Debian: apt-get install systemd)")
    return path


def verify(tool: str, unit_text: str, tmp_path: Path, name: str) -> subprocess.CompletedProcess[str]:
    """``systemd-analyze verify`` on the unit, its ExecStart pointed at an executable that exists here."""
    executable = tmp_path / "gridpass"
    executable.write_text("#!/bin/sh\n")
    executable.chmod(0o755)
    unit = tmp_path / name
    unit.write_text(unit_text.replace(EXEC, str(executable)))
    return subprocess.run(
        [tool, "verify", "--man=no", str(unit)], capture_output=True, text=True, timeout=TOOL_TIMEOUT_S, check=False
    )


@pytest.mark.parametrize("unit", UNITS)
def test_systemd_analyze_verify_is_clean(unit: str, tmp_path: Path) -> None:
    done = verify(_tool("systemd-analyze"), (SYSTEMD_DIR / unit).read_text(), tmp_path, unit)
    assert done.returncode == 0, done.stderr
    assert done.stderr == "", done.stderr


def test_systemd_analyze_verify_would_catch_a_broken_unit(tmp_path: Path) -> None:
    text = (SYSTEMD_DIR / "gridpass-device.service").read_text().replace("WatchdogSec=30", "WatchdogSec=soon")
    done = verify(_tool("systemd-analyze"), text + "ProtectEverything=yes\n", tmp_path, "broken.service")
    assert "Failed to parse sec value" in done.stderr
    assert "Unknown key 'ProtectEverything'" in done.stderr


def test_sysusers_makes_the_user_with_its_device_groups(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    done = subprocess.run(
        [_tool("systemd-sysusers"), f"--root={tmp_path}", str(SYSTEMD_DIR / "sysusers.d" / "gridpass.conf")],
        capture_output=True, text=True, timeout=TOOL_TIMEOUT_S, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    passwd = (tmp_path / "etc" / "passwd").read_text()
    user = next(line.split(":") for line in passwd.splitlines() if line.startswith("gridpass:"))
    assert user[5:] == ["/var/lib/gridpass", "/usr/sbin/nologin"]
    groups = {line.split(":")[0]: line.split(":")[3] for line in (tmp_path / "etc" / "group").read_text().splitlines()}
    assert all(groups[name] == "gridpass" for name in ("dialout", "video", "gpio"))


@pytest.mark.skipif(os.geteuid() != 0, reason="creating directories owned by another user needs root")
def test_tmpfiles_makes_config_and_state_directories(tmp_path: Path) -> None:
    test_sysusers_makes_the_user_with_its_device_groups(tmp_path)
    done = subprocess.run(
        [_tool("systemd-tmpfiles"), f"--root={tmp_path}", "--create", str(SYSTEMD_DIR / "tmpfiles.d/gridpass.conf")],
        capture_output=True, text=True, timeout=TOOL_TIMEOUT_S, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    uid = int(next(line for line in (tmp_path / "etc" / "passwd").read_text().splitlines()
                   if line.startswith("gridpass:")).split(":")[2])  # fmt: skip
    state, config = (tmp_path / "var" / "lib" / "gridpass").stat(), (tmp_path / "etc" / "gridpass").stat()
    assert (state.st_uid, state.st_mode & 0o777) == (uid, 0o750)
    assert (config.st_uid, config.st_mode & 0o777) == (0, 0o750)
