"""``gridpass hub user|token|devices|commands|audit`` against a hub database, through the same operations as the API."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from hub.accounts.roles import Role
from hub.operations import auth, commands
from hub.storage.engine import create_engine
from protocol.keys import public_key_pem
from tests.cli.conftest import gridpass
from tests.services.mosquitto import free_port

PASSWORD = "correct horse battery staple"


@pytest.fixture
def config(tmp_path: Path) -> Path:
    (tmp_path / "hub.pass").write_text("hub-secret\n")
    (tmp_path / "root.pub.pem").write_text("unused here\n")
    path = tmp_path / "hub.toml"
    path.write_text(
        f'[database]\nurl = "sqlite:///{tmp_path / "hub.db"}"\n'
        f'[broker]\nport = {free_port()}\npassword_file = "{tmp_path / "hub.pass"}"\n'
        f'[lists]\nroot_key = "{tmp_path / "root.pub.pem"}"\n'
    )
    return path


def _url(config: Path) -> str:
    return f"sqlite:///{config.parent / 'hub.db'}"


def test_the_first_admin_needs_a_password_and_there_is_no_default(config: Path) -> None:
    made = gridpass("hub", "user", "create", "ann", "--role", "admin", "-c", config, stdin=f"{PASSWORD}\n{PASSWORD}\n")
    assert made.exit_code == 0, made.output
    assert "created ann (admin)" in made.stdout
    too_short = gridpass("hub", "user", "create", "bob", "-c", config, stdin="short\nshort\n")
    assert too_short.exit_code == 4
    assert "at least 12 characters" in too_short.output
    listed = gridpass("hub", "user", "list", "-c", config)
    assert "ann" in listed.stdout
    assert "admin" in listed.stdout
    assert "bob" not in listed.stdout
    engine = create_engine(_url(config))
    try:
        assert auth.login(engine, "ann", PASSWORD, client="x", now=time.time()).user.role is Role.ADMIN
    finally:
        engine.dispose()


def test_tokens_are_made_shown_once_and_revoked(config: Path, tmp_path: Path) -> None:
    password_file = tmp_path / "pw"
    password_file.write_text(PASSWORD)
    assert gridpass("hub", "user", "create", "flasher", "--role", "operator", "--password-file", password_file,
                    "-c", config).exit_code == 0  # fmt: skip
    out = tmp_path / "token"
    made = gridpass("hub", "token", "create", "--user", "flasher", "--name", "laptop", "--out", out, "-c", config)
    assert made.exit_code == 0, made.output
    secret = out.read_text().strip()
    assert out.stat().st_mode & 0o777 == 0o600
    assert secret not in gridpass("hub", "token", "list", "-c", config).stdout
    engine = create_engine(_url(config))
    try:
        assert auth.resolve_token(engine, secret, now=time.time()) is not None
        token_id = auth.list_tokens(engine, username="flasher")[0].id
        revoked = gridpass("hub", "token", "revoke", str(token_id), "-c", config)
        assert revoked.exit_code == 0, revoked.output
        assert auth.resolve_token(engine, secret, now=time.time()) is None
    finally:
        engine.dispose()
    assert gridpass("hub", "token", "revoke", "999", "-c", config).exit_code == 4


def test_devices_preauthorise_show_approve_decommission_and_audit(config: Path, tmp_path: Path) -> None:
    key = tmp_path / "dev.pub.pem"
    key.write_bytes(public_key_pem(ed25519.Ed25519PrivateKey.generate().public_key()))
    pending = gridpass("hub", "devices", "preauthorise", "hh-01", "--public-key", key, "--profile", "handheld",
                       "--pending", "-c", config)  # fmt: skip
    assert pending.exit_code == 0, pending.output
    assert "hh-01: pending; broker: skipped" in pending.stdout
    assert "pending" in gridpass("hub", "devices", "list", "-c", config).stdout
    assert "hh-01: enrolled" in gridpass("hub", "devices", "approve", "hh-01", "-c", config).stdout
    shown = gridpass("hub", "devices", "show", "hh-01", "-c", config)
    assert '"profile": "handheld"' in shown.stdout
    retired = gridpass("hub", "devices", "decommission", "hh-01", "-c", config)
    assert "hh-01: decommissioned; broker: not_configured" in retired.stdout
    assert gridpass("hub", "devices", "approve", "hh-01", "-c", config).exit_code == 4
    assert gridpass("hub", "devices", "show", "nobody", "-c", config).exit_code == 4
    logged = gridpass("hub", "audit", "--target", "device:hh-01", "-c", config)
    for action in ("device.request", "device.approve", "device.decommission"):
        assert action in logged.stdout
    assert "cli:" in logged.stdout
    assert "refused" in logged.stdout


def test_a_command_is_stored_but_reported_unsent_without_a_broker(config: Path, tmp_path: Path) -> None:
    key = tmp_path / "dev.pub.pem"
    key.write_bytes(public_key_pem(ed25519.Ed25519PrivateKey.generate().public_key()))
    (tmp_path / "root.pub.pem").write_bytes(key.read_bytes())  # the worker needs some public key to load
    assert gridpass("hub", "devices", "preauthorise", "sc-01", "--public-key", key, "-c", config).exit_code == 0
    sent = gridpass("hub", "commands", "send", "sc-01", "resend", "--arg", "from=3", "--arg", "stream=events",
                    "-c", config)  # fmt: skip
    assert sent.exit_code == 5
    assert "not sent" in sent.output
    engine = create_engine(_url(config))
    try:
        [stored] = commands.list_commands(engine)
    finally:
        engine.dispose()
    assert (stored.command, stored.args, stored.published) == ("resend", {"from": 3, "stream": "events"}, False)
    listed = gridpass("hub", "commands", "list", "--device", "sc-01", "-c", config)
    assert stored.id in listed.stdout
