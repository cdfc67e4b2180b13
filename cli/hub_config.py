"""``gridpass hub config ...``: push a signed configuration to a terminal, and see what it holds and answered."""

from __future__ import annotations

import getpass
import json
import time
import tomllib
from pathlib import Path
from typing import Annotated

import typer

from cli.errors import fail

app = typer.Typer(help="Signed device configurations: push, show.", no_args_is_help=True)

ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="The hub's TOML config file.")]


@app.command("push")
def push_command(
    config: ConfigOption,
    device: Annotated[str, typer.Argument(help="Device id.")],
    settings: Annotated[
        Path, typer.Argument(help="TOML file of the settings to override, e.g. [scan] hold_off_s = 4.0.")
    ],
) -> None:
    """Sign and keep the device's next configuration; the running hub worker publishes it (retained) within a minute.

    Settings replace the previous push as a whole. The terminal checks them with its own config models and answers;
    `gridpass hub config show` tells what it answered.
    """
    from cli.hub import _load  # noqa: PLC0415
    from hub.accounts.roles import Role  # noqa: PLC0415
    from hub.config_signer import ConfigSigner, ConfigSignerError  # noqa: PLC0415
    from hub.operations.audit import Actor  # noqa: PLC0415
    from hub.operations.configs import push_config  # noqa: PLC0415
    from hub.operations.errors import OperationError  # noqa: PLC0415
    from hub.storage.engine import create_engine  # noqa: PLC0415
    from hub.storage.migrate import upgrade  # noqa: PLC0415
    from protocol.keys import KeyFormatError, load_public_key_pem  # noqa: PLC0415

    loaded = _load(config)
    if loaded.config_push is None:
        fail("the hub config has no [config_push] section: add the signing key and the district's delegation")
    try:
        overrides = tomllib.loads(settings.read_text(encoding="utf-8"))
        root_key = load_public_key_pem(loaded.lists.root_key.read_bytes())
        signer = ConfigSigner.load(
            loaded.config_push.key_file, loaded.config_push.delegation_file, root_key, now=time.time()
        )
    except (OSError, tomllib.TOMLDecodeError, KeyFormatError, ConfigSignerError) as exc:
        fail(f"cannot push: {exc}")
    engine = create_engine(loaded.database.url)
    try:
        upgrade(engine)
        actor = Actor(f"cli:{getpass.getuser()}", Role.ADMIN, "local")
        result = push_config(engine, None, signer, actor, device, settings=overrides, now=time.time())
    except OperationError as exc:
        fail(str(exc))
    finally:
        engine.dispose()
    print(json.dumps({"device": device, "version": result.config.version, "published": result.published}))


@app.command("show")
def show_command(
    config: ConfigOption,
    device: Annotated[str, typer.Argument(help="Device id.")],
    limit: Annotated[int, typer.Option(help="How many versions, newest first.")] = 5,
) -> None:
    """The configurations pushed to a device, newest first, with the terminal's answers."""
    from cli.hub import _load  # noqa: PLC0415
    from hub.operations.configs import history  # noqa: PLC0415
    from hub.operations.errors import OperationError  # noqa: PLC0415
    from hub.storage.engine import create_engine  # noqa: PLC0415

    engine = create_engine(_load(config).database.url)
    try:
        versions = history(engine, device, limit=limit)
    except OperationError as exc:
        fail(str(exc))
    finally:
        engine.dispose()
    for version in versions:
        answer = "waiting" if version.answer_ok is None else ("taken" if version.answer_ok else "refused")
        print(
            json.dumps(
                {
                    "version": version.version,
                    "by": version.created_by,
                    "at": version.created_at,
                    "published": version.published_at is not None,
                    "answer": answer,
                    "detail": version.answer_detail,
                    "settings": version.settings,
                }
            )
        )
