"""Whole-terminal commands: snapshot, restart, reboot, wipe (confirmed only), and a pushed configuration taken and
restarted into; every answer carries the command's correlation id."""

from __future__ import annotations

from pathlib import Path

from device.commands import REBOOT_COMMAND, UPDATE_UNIT, ExitRequest, TerminalActions, wipe
from device.config import DeviceConfig, validate
from protocol.device_config import make_delegation, seal_device_config
from protocol.keys import Alg, generate_private_key
from protocol.messages import Command, CommandMessage

ROOT = generate_private_key(Alg.EDDSA)
HUB_KEY = generate_private_key(Alg.EDDSA)


def config(tmp_path: Path) -> DeviceConfig:
    for name in ("key.pem", "password"):
        (tmp_path / name).write_text("secret")
    return validate(
        {
            "device": {"id": "cam-01", "profile": "scanner", "site": "S1", "data_dir": str(tmp_path / "var")},
            "camera": {"kind": "synthetic"},
            "signal": {"indicator": "console"},
            "lists": {"root_key": str(tmp_path / "root.pem"), "list_id": "CN-SH-PD"},
            "sync": {
                "broker_host": "127.0.0.1",
                "password_file": str(tmp_path / "password"),
                "key_file": str(tmp_path / "key.pem"),
            },
        }
    )


class Recorder:
    def __init__(self) -> None:
        self.stops = 0
        self.snapshots: list[str] = []
        self.commands: list[tuple[str, ...]] = []

    def stop(self) -> None:
        self.stops += 1

    def snapshot(self, detail: str) -> bool:
        self.snapshots.append(detail)
        return True

    def run(self, argv: tuple[str, ...]) -> int:
        self.commands.append(argv)
        return 0


def actions(tmp_path: Path, recorder: Recorder, *, camera: bool = True) -> TerminalActions:
    return TerminalActions(
        config(tmp_path), ROOT.public_key(), stop=recorder.stop,
        snapshot=recorder.snapshot if camera else None, run_command=recorder.run,
    )  # fmt: skip


def command(name: Command, **args: object) -> CommandMessage:
    return CommandMessage(f"c-{name.value}", name, dict(args))


def test_snapshot_now_reaches_the_camera_or_says_why_not(tmp_path: Path) -> None:
    recorder = Recorder()
    result = actions(tmp_path, recorder).handle(command(Command.SNAPSHOT_NOW))
    assert (result.id, result.ok) == ("c-snapshot_now", True)
    assert recorder.snapshots == ["command c-snapshot_now"]
    terminal = actions(tmp_path, recorder)
    terminal.on_decision = lambda _decision, reason: reason == "revoked"
    assert terminal.handle(command(Command.SNAPSHOT_NOW, trigger="revoked")).ok
    declined = terminal.handle(command(Command.SNAPSHOT_NOW, trigger="status_red"))
    assert not declined.ok
    assert "not a trigger" in declined.detail
    refused = actions(tmp_path, Recorder(), camera=False).handle(command(Command.SNAPSHOT_NOW))
    assert not refused.ok
    assert "camera" in refused.detail


def test_reboot_restarts_the_process_or_the_machine(tmp_path: Path) -> None:
    recorder = Recorder()
    terminal = actions(tmp_path, recorder)
    assert terminal.handle(command(Command.REBOOT)).ok
    assert terminal.exit_request is ExitRequest.RESTART
    assert recorder.stops == 1
    assert terminal.handle(command(Command.REBOOT, os=True)).ok
    assert recorder.commands == [REBOOT_COMMAND]


def test_wipe_needs_the_device_id_and_is_never_downgraded(tmp_path: Path) -> None:
    recorder = Recorder()
    terminal = actions(tmp_path, recorder)
    assert not terminal.handle(command(Command.WIPE)).ok
    assert terminal.exit_request is None
    assert terminal.handle(command(Command.WIPE, confirm="cam-01")).ok
    terminal.handle(command(Command.REBOOT))
    assert terminal.exit_request is ExitRequest.WIPE


def test_rotate_key_is_answered_as_unsupported(tmp_path: Path) -> None:
    result = actions(tmp_path, Recorder()).handle(command(Command.ROTATE_KEY))
    assert not result.ok
    assert "not supported" in result.detail


def test_wipe_removes_data_and_credentials(tmp_path: Path) -> None:
    loaded = config(tmp_path)
    loaded.device.data_dir.mkdir(parents=True)
    (loaded.device.data_dir / "device.db").write_bytes(b"x")
    (loaded.device.data_dir / "lists").mkdir()
    (loaded.device.data_dir / "lists" / "a").write_bytes(b"x")
    removed = wipe(loaded)
    assert len(removed) == 4
    assert list(loaded.device.data_dir.iterdir()) == []
    assert not (tmp_path / "key.pem").exists()
    assert not (tmp_path / "password").exists()


def test_a_pushed_configuration_is_taken_then_restarted_into(tmp_path: Path) -> None:
    recorder = Recorder()
    terminal = actions(tmp_path, recorder)
    terminal.base_config.device.data_dir.mkdir(parents=True)
    delegation = make_delegation(ROOT, "hub", HUB_KEY.public_key(), nbf=0, exp=2**40)
    payload = seal_device_config(
        HUB_KEY, delegation, device="cam-01", version=1, issued=1000, settings={"scan": {"hold_off_s": 2.0}}
    )
    result = terminal.take_config(payload)
    assert result is not None
    assert (result.id, result.ok) == ("config:1", True)
    assert terminal.exit_request is ExitRequest.RESTART
    terminal.config_version = 1
    assert terminal.take_config(payload) is None  # the retained copy of what is held: no answer, no restart
    bad = seal_device_config(
        HUB_KEY, delegation, device="cam-01", version=2, issued=1000, settings={"lists": {"list_id": "X"}}
    )
    refused = terminal.take_config(bad)
    assert refused is not None
    assert (refused.id, refused.ok) == ("config:2", False)
    assert terminal.refused_configs == {"not_pushable": 1}


def test_update_starts_the_installer_outside_the_service_with_the_url_and_hash(tmp_path: Path) -> None:
    recorder = Recorder()
    terminal = actions(tmp_path, recorder)
    sha = "ab" * 32
    result = terminal.handle(command(Command.UPDATE, url="https://hub.example/r/1.2.0.bundle", sha256=sha))
    assert result.ok
    [argv] = recorder.commands
    assert argv[:3] == UPDATE_UNIT
    assert argv[-6:] == ("device", "update", "--url", "https://hub.example/r/1.2.0.bundle", "--sha256", sha)
    for bad in ({"url": "ftp://x", "sha256": sha}, {"url": "https://x"}, {"url": "https://x", "sha256": "zz"}):
        refused = terminal.handle(command(Command.UPDATE, **bad))
        assert not refused.ok
    assert len(recorder.commands) == 1
