"""``gridpass device ...``: run a terminal, check its config, show its status."""

from __future__ import annotations

import json
import logging
import signal
import threading
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from cli.errors import fail
from device.config import ConfigError, DeviceConfig, load

app = typer.Typer(help="Terminal: run it, check its config, show its status.", no_args_is_help=True)

ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="The terminal's TOML config file.")]


def _load(config_path: Path) -> DeviceConfig:
    try:
        return load(config_path)
    except ConfigError as exc:
        lines = "\n".join(f"  {key}: {message}" for key, message in exc.problems)
        fail(f"{exc.source} is not a usable config:\n{lines}")


@app.command("check-config")
def check_config(config: Annotated[Path, typer.Argument(help="The TOML file to check.")]) -> None:
    """Validate a config file; every problem is printed with its key path."""
    loaded = _load(config)
    print(f"ok: {loaded.device.id} ({loaded.device.profile}) at {loaded.device.site}")


@app.command("run")
def run(config: ConfigOption, verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False) -> None:
    """Run the terminal until SIGTERM or Ctrl-C."""
    from device.app import DeviceSetupError, build  # noqa: PLC0415 - OpenCV and the decoder load only to run

    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if not verbose:  # one line per HTTP request (relay, list pull, update download) is noise in the journal
        logging.getLogger("httpx").setLevel(logging.WARNING)
    from device.commands import ExitRequest, wipe  # noqa: PLC0415
    from device.store import StoreError  # noqa: PLC0415

    loaded = _load(config)
    terminated = threading.Event()
    current = [threading.Event()]

    def terminate(*_: object) -> None:
        terminated.set()
        current[0].set()

    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGINT, terminate)
    while not terminated.is_set():  # a pushed configuration or a restart command rebuilds the terminal in place
        try:
            device = build(loaded)
        except (DeviceSetupError, StoreError) as exc:  # systemd starts it again (Restart=on-failure)
            fail(str(exc))
        current[0] = threading.Event()
        if terminated.is_set():
            current[0].set()
        request = device.run(current[0])
        if request is ExitRequest.WIPE:
            removed = wipe(loaded)
            print(f"wiped {len(removed)} files and folders; re-provision this terminal to use it again")
            return
        if request is not ExitRequest.RESTART:
            return


@app.command("status")
def status(config: ConfigOption, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Profile, list versions and age, clock trust, backlog per stream, storage, last decision."""
    from device.app import STATUS_FILE, DeviceSetupError, open_lists  # noqa: PLC0415
    from device.clock import ClockTrust, SystemClock, TimesyncdStatus  # noqa: PLC0415
    from device.status import collect  # noqa: PLC0415
    from device.store import DeviceStore, StoreError, open_database  # noqa: PLC0415

    loaded = _load(config)
    problems: list[str] = []
    try:
        store = DeviceStore(open_database(loaded.device.data_dir / "device.db"))
        lists = open_lists(loaded, store, problems)
    except (StoreError, DeviceSetupError) as exc:
        fail(str(exc))
    document = collect(
        loaded, store, lists, ClockTrust(SystemClock(), store, TimesyncdStatus()), problems=problems,
        data_dir=loaded.device.data_dir,
    )  # fmt: skip
    runtime = loaded.device.data_dir / STATUS_FILE
    if runtime.exists():
        document["running"] = {"status_age_s": time.time() - runtime.stat().st_mtime}
        document["problems"] = sorted(set(document["problems"]) | set(json.loads(runtime.read_text())["problems"]))
    if lists.revocations is not None:
        lists.revocations.close()
    store.db.close()
    if as_json:
        print(json.dumps(document))
        return
    table = Table(title=f"terminal {document['device']}", show_header=False)
    for key, value in document.items():
        table.add_row(key, json.dumps(value, indent=1) if isinstance(value, dict | list) else str(value))
    Console().print(table)


from cli.device_update import update as _update  # noqa: E402 - the update command lives in its own module

app.command("update")(_update)
