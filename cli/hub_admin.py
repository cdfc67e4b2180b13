"""``gridpass hub user|token|devices|commands|audit``: the operators' work from the hub's own host.

These commands open the hub's database named in the config and call the same operations as the HTTP API and the
dashboard (``hub.operations``), so the three always agree. They need no running web app and no token: whoever can
read the hub's config and database is already its administrator, and that is also how the first admin account is
made. Each change is audited as ``cli:{os user}``.

Exit codes: 0 done; 2 usage; 3 a file cannot be read or the config is unusable; 4 the hub refused (not found,
conflict, invalid, not allowed); 5 the database or the broker is unavailable (nothing or only the hub's side was
done: run the command again).
"""

from __future__ import annotations

import getpass
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.engine import Engine

from cli.errors import fail
from hub.accounts.roles import Role
from hub.config import HubConfig, HubConfigError, load
from hub.operations import audit, auth, commands, fleet, users
from hub.operations.audit import Actor
from hub.operations.errors import BrokerError, OperationError, UnavailableError
from hub.operations.ports import BrokerControl, Publisher
from hub.storage.devices import PROFILES, DeviceStatus
from protocol.messages import Command

EXIT_REFUSED = 4
EXIT_UNAVAILABLE = 5
CONNECT_WAIT_S = 10.0
POLL_S = 0.05

ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="The hub's TOML config file.")]

user_app = typer.Typer(help="Operator accounts.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens (for scripts, the flashing tool, Prometheus).", no_args_is_help=True)
devices_app = typer.Typer(help="The fleet: inventory, approve, decommission.", no_args_is_help=True)
commands_app = typer.Typer(help="Commands to terminals and their results.", no_args_is_help=True)


def register(hub_app: typer.Typer) -> None:
    """Add these commands to ``gridpass hub``."""
    hub_app.add_typer(user_app, name="user")
    hub_app.add_typer(token_app, name="token")
    hub_app.add_typer(devices_app, name="devices")
    hub_app.add_typer(commands_app, name="commands")
    hub_app.command("audit")(audit_command)


# --- plumbing ----------------------------------------------------------------------------------------------------


def _config(path: Path) -> HubConfig:
    try:
        return load(path)
    except HubConfigError as exc:
        lines = "\n".join(f"  {key}: {message}" for key, message in exc.problems)
        fail(f"{exc.source} is not a usable hub config:\n{lines}")


@contextmanager
def _engine(config: HubConfig) -> Iterator[Engine]:
    from hub.storage.engine import create_engine  # noqa: PLC0415 - SQLAlchemy only for commands that need it
    from hub.storage.errors import StorageError  # noqa: PLC0415
    from hub.storage.migrate import upgrade  # noqa: PLC0415

    engine = create_engine(config.database.url)
    try:
        try:
            upgrade(engine)
        except StorageError as exc:
            fail(f"cannot open the hub database: {exc}", EXIT_UNAVAILABLE)
        with _translated():
            yield engine
    finally:
        engine.dispose()


@contextmanager
def _translated() -> Iterator[None]:
    try:
        yield
    except (UnavailableError, BrokerError) as exc:
        fail(str(exc), EXIT_UNAVAILABLE)
    except OperationError as exc:
        fail(str(exc), EXIT_REFUSED)


def _actor() -> Actor:
    return Actor(f"cli:{getpass.getuser()}", Role.ADMIN, "local")


def _broker(config: HubConfig) -> BrokerControl | None:
    from hub.app import DynSecPerCall  # noqa: PLC0415 - the web app's module only for these commands

    broker = config.broker
    if broker.admin_user is None or broker.admin_password_file is None:
        return None
    try:
        password = broker.admin_password_file.read_text().strip()
    except OSError as exc:
        fail(f"cannot read the broker admin password from {broker.admin_password_file}: {exc.strerror}")
    return DynSecPerCall(broker.host, broker.port, broker.admin_user, password)


def _when(at: float | None) -> str:
    return "" if at is None else datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _secret(path: Path | None, prompt: str) -> str:
    if path is None:
        value: str = typer.prompt(prompt, hide_input=True, confirmation_prompt=True)
        return value
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        fail(f"cannot read {path}: {exc.strerror}")


def _print(table: Table) -> None:
    Console(width=200).print(table)


# --- users -------------------------------------------------------------------------------------------------------


@user_app.command("create")
def user_create(
    config: ConfigOption,
    username: Annotated[str, typer.Argument(help="1-64 of a-z, 0-9, '.', '_', '-'.")],
    role: Annotated[Role, typer.Option(help="viewer, operator or admin.")] = Role.VIEWER,
    password_file: Annotated[
        Path | None, typer.Option(help="File holding the password; without it, the password is asked for.")
    ] = None,
) -> None:
    """Create an operator account (the first admin too); there is no default password."""
    loaded = _config(config)
    password = _secret(password_file, "Password")
    with _engine(loaded) as engine:
        made = users.create_user(engine, _actor(), username, role, password, now=time.time())
    print(f"created {made.username} ({made.role.value})")


@user_app.command("list")
def user_list(config: ConfigOption) -> None:
    """Every operator account."""
    with _engine(_config(config)) as engine:
        views = users.list_users(engine)
    table = Table("username", "role", "disabled", "created", "password changed")
    for view in views:
        table.add_row(view.username, view.role.value, "yes" if view.disabled else "", _when(view.created_at),
                      _when(view.password_changed_at))  # fmt: skip
    _print(table)


@user_app.command("update")
def user_update(
    config: ConfigOption,
    username: Annotated[str, typer.Argument(help="The account.")],
    role: Annotated[Role | None, typer.Option(help="New role.")] = None,
    disable: Annotated[
        bool | None, typer.Option("--disable/--enable", help="Disable (ends sessions and tokens).")
    ] = None,
    password_file: Annotated[Path | None, typer.Option(help="Set a new password read from this file.")] = None,
    new_password: Annotated[bool, typer.Option("--new-password", help="Ask for a new password.")] = False,
) -> None:
    """Change an account's role, disable or enable it, or set a new password."""
    loaded = _config(config)
    password = _secret(password_file, "New password") if password_file is not None or new_password else None
    with _engine(loaded) as engine:
        view = users.update_user(
            engine, _actor(), username, now=time.time(), role=role, disabled=disable, password=password
        )
    print(f"{view.username}: {view.role.value}{', disabled' if view.disabled else ''}")


# --- tokens ------------------------------------------------------------------------------------------------------


@token_app.command("create")
def token_create(
    config: ConfigOption,
    user: Annotated[str, typer.Option(help="The account the token acts as.")],
    name: Annotated[str, typer.Option(help="What it is for (e.g. flashing-laptop, prometheus).")],
    ttl_days: Annotated[float, typer.Option(min=0.001, max=400, help="Lifetime in days.")] = 90.0,
    out: Annotated[Path | None, typer.Option(help="Write the token to this file (0600) instead of stdout.")] = None,
) -> None:
    """Make an API token; it is shown (or written) this once and stored only as its SHA-256."""
    with _engine(_config(config)) as engine:
        made = auth.create_token(engine, _actor(), name, now=time.time(), ttl_s=ttl_days * 86400, for_user=user)
    if out is None:
        print(made.secret)
        return
    try:
        out.touch(mode=0o600, exist_ok=False)
        out.write_text(made.secret + "\n", encoding="utf-8")
    except OSError as exc:
        fail(f"cannot write {out}: {exc.strerror} (token {made.token.id} was made: revoke it)")
    print(f"token {made.token.id} written to {out}")


@token_app.command("list")
def token_list(
    config: ConfigOption, user: Annotated[str | None, typer.Option(help="Only this account's.")] = None
) -> None:
    """API tokens (never their secrets)."""
    with _engine(_config(config)) as engine:
        views = auth.list_tokens(engine, username=user)
    table = Table("id", "user", "name", "prefix", "created", "expires", "revoked", "last used")
    for view in views:
        table.add_row(str(view.id), view.username, view.name, view.prefix, _when(view.created_at),
                      _when(view.expires_at), _when(view.revoked_at), _when(view.last_used_at))  # fmt: skip
    _print(table)


@token_app.command("revoke")
def token_revoke(config: ConfigOption, token_id: Annotated[int, typer.Argument(min=1, help="The token's id.")]) -> None:
    """Revoke a token: it is refused from the next request on."""
    with _engine(_config(config)) as engine:
        view = auth.revoke_token(engine, _actor(), token_id, now=time.time())
    print(f"revoked token {view.id} ({view.name}) of {view.username}")


# --- devices -----------------------------------------------------------------------------------------------------


@devices_app.command("list")
def devices_list(
    config: ConfigOption, status: Annotated[DeviceStatus | None, typer.Option(help="Only this status.")] = None
) -> None:
    """Every terminal with its presence."""
    with _engine(_config(config)) as engine:
        details = fleet.details(engine, status)
    table = Table("id", "status", "profile", "site", "grid cell", "state", "firmware", "backlog", "last activity")
    for detail in details:
        device, presence = detail.device, detail.presence
        state = "" if presence is None or presence.state is None else presence.state.value
        backlog = "" if presence is None or not presence.backlog else str(sum(presence.backlog.values()))
        table.add_row(device.id, device.status.value, device.profile, device.site or "", device.grid_cell or "", state,
                      "" if presence is None else presence.firmware or "", backlog,
                      _when(None if presence is None else presence.last_activity_at))  # fmt: skip
    _print(table)


@devices_app.command("show")
def devices_show(config: ConfigOption, device: Annotated[str, typer.Argument(help="Device id.")]) -> None:
    """One terminal: inventory, presence, streams (JSON, the API's shape)."""
    from hub.api.models import DevicePublic  # noqa: PLC0415 - the API's shape, so CLI and API print the same

    with _engine(_config(config)) as engine:
        detail = fleet.device_detail(engine, device)
    print(json.dumps(DevicePublic.of(detail).model_dump(mode="json"), indent=2))


@devices_app.command("preauthorise")
def devices_preauthorise(
    config: ConfigOption,
    device: Annotated[str, typer.Argument(help="Device id (also its broker user name).")],
    public_key: Annotated[Path, typer.Option(help="The terminal's Ed25519 public key (PEM).")],
    profile: Annotated[str, typer.Option(help=f"One of {', '.join(sorted(PROFILES))}.")] = "scanner",
    site: Annotated[str | None, typer.Option(help="Site code.")] = None,
    grid_cell: Annotated[str | None, typer.Option(help="Grid cell code.")] = None,
    password_file: Annotated[Path | None, typer.Option(help="The terminal's broker password, to set it.")] = None,
    pending: Annotated[bool, typer.Option(help="Record a request to approve later instead.")] = False,
) -> None:
    """Pre-authorise a terminal (as ``POST /api/v1/devices`` does)."""
    loaded = _config(config)
    try:
        pem = public_key.read_text(encoding="ascii")
        password = None if password_file is None else password_file.read_text().strip()
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"cannot read the key or password: {exc}")
    enrolment = fleet.Enrolment(device, pem, profile, site, grid_cell, password, approved=not pending)
    with _engine(loaded) as engine:
        done = fleet.preauthorise(engine, _actor(), enrolment, now=time.time(), broker=_broker(loaded))
    was = "" if done.created else " (was there already)"
    print(f"{done.detail.device.id}: {done.detail.device.status.value}{was}; broker: {done.broker.value}")


@devices_app.command("approve")
def devices_approve(config: ConfigOption, device: Annotated[str, typer.Argument(help="Device id.")]) -> None:
    """Approve a pending terminal."""
    with _engine(_config(config)) as engine:
        detail = fleet.approve(engine, _actor(), device, now=time.time())
    print(f"{detail.device.id}: {detail.device.status.value}")


@devices_app.command("decommission")
def devices_decommission(config: ConfigOption, device: Annotated[str, typer.Argument(help="Device id.")]) -> None:
    """Retire a terminal: the hub refuses it at once; the broker disables it and drops its connection."""
    loaded = _config(config)
    with _engine(loaded) as engine:
        detail, side = fleet.decommission(engine, _actor(), device, now=time.time(), broker=_broker(loaded))
    print(f"{detail.device.id}: {detail.device.status.value}; broker: {side.value}")


# --- commands ----------------------------------------------------------------------------------------------------


def _args(pairs: list[str]) -> dict[str, Any]:
    parsed: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep:
            fail(f"--arg takes KEY=VALUE, not {pair!r}", 2)
        try:
            parsed[key] = json.loads(raw)
        except ValueError:
            parsed[key] = raw
    return parsed


@contextmanager
def _publisher(config: HubConfig) -> Iterator[Publisher]:
    """A short-lived hub worker connection to publish through (like ``hub publish-list``)."""
    from hub.worker import HubSetupError, build  # noqa: PLC0415

    try:
        worker = build(config)
    except HubSetupError as exc:
        fail(str(exc))
    worker.link.start()
    try:
        deadline = time.monotonic() + CONNECT_WAIT_S
        while not worker.link.connected and time.monotonic() < deadline:
            time.sleep(POLL_S)
        yield worker.link
    finally:
        worker.link.stop()


@commands_app.command("send")
def commands_send(
    config: ConfigOption,
    device: Annotated[str, typer.Argument(help="Device id.")],
    command: Annotated[Command, typer.Argument(help="The command.")],
    arg: Annotated[list[str] | None, typer.Option("--arg", help="KEY=VALUE (JSON values allowed), repeatable.")] = None,
    ttl_s: Annotated[float, typer.Option(min=1, max=7 * 86400, help="Void after this many seconds.")] = 3600.0,
) -> None:
    """Send a command to a terminal; prints its correlation id (see ``hub commands list`` for the result)."""
    loaded = _config(config)
    args = _args(arg or [])
    with _engine(loaded) as engine, _publisher(loaded) as publisher:
        view = commands.send(engine, _actor(), device, command, args, now=time.time(), publisher=publisher, ttl_s=ttl_s)
    print(view.id)
    if not view.published:
        fail(f"command {view.id} is stored but was not sent: the broker could not be reached", EXIT_UNAVAILABLE)


@commands_app.command("list")
def commands_list(
    config: ConfigOption,
    device: Annotated[str | None, typer.Option(help="Only this device's.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=200, help="How many, newest first.")] = 50,
) -> None:
    """Commands and their results."""
    with _engine(_config(config)) as engine:
        views = commands.list_commands(engine, device_id=device, limit=limit)
    table = Table("id", "device", "command", "args", "by", "sent", "published", "result", "detail")
    for view in views:
        result = "" if view.result_ok is None else ("ok" if view.result_ok else "failed")
        args = json.dumps(view.args) if view.args else ""
        sent = "yes" if view.published else "no"
        table.add_row(view.id, view.device_id, view.command, args, view.created_by, _when(view.created_at), sent,
                      result, view.result_detail or "")  # fmt: skip
    _print(table)


# --- audit -------------------------------------------------------------------------------------------------------


def audit_command(
    config: ConfigOption,
    limit: Annotated[int, typer.Option(min=1, max=500, help="How many, newest first.")] = 50,
    target: Annotated[str | None, typer.Option(help="Only this target, e.g. device:scanner-01.")] = None,
    action: Annotated[str | None, typer.Option(help="Only this action, e.g. device.decommission.")] = None,
) -> None:
    """The audit log: who did what, to what, when, and how it ended."""
    with _engine(_config(config)) as engine:
        views = audit.entries(engine, limit=limit, subject=target, action=action)
    table = Table("id", "at", "actor", "role", "action", "target", "outcome", "detail", "client")
    for view in views:
        table.add_row(str(view.id), _when(view.at), view.actor, view.actor_role or "", view.action, view.target or "",
                      view.outcome.value, view.detail or "", view.client or "")  # fmt: skip
    _print(table)
