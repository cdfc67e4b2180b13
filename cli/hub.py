"""``gridpass hub ...``: run an ingest worker, enrol terminals, pass the district's lists down."""

from __future__ import annotations

import logging
import signal
import threading
import time
from pathlib import Path
from typing import Annotated

import typer

from cli import hub_admin, hub_config, hub_tls
from cli.errors import fail
from hub.config import HubConfig, HubConfigError, load

app = typer.Typer(help="Hub: ingest workers, enrolment, lists.", no_args_is_help=True)

ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="The hub's TOML config file.")]

app.add_typer(hub_config.app, name="config")
app.add_typer(hub_tls.app, name="tls")
hub_admin.register(app)


def _load(path: Path) -> HubConfig:
    try:
        return load(path)
    except HubConfigError as exc:
        lines = "\n".join(f"  {key}: {message}" for key, message in exc.problems)
        fail(f"{exc.source} is not a usable hub config:\n{lines}")


@app.command("run")
def run(config: ConfigOption, verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False) -> None:
    """Run one ingest worker (with a web section in the config, also the operators' web app) until SIGTERM."""
    from hub.worker import HubSetupError, build  # noqa: PLC0415 - only this command needs the whole worker

    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if not verbose:  # one line per HTTP request (relay, list pull, update download) is noise in the journal
        logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        worker = build(_load(config))
    except HubSetupError as exc:
        fail(str(exc))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    web = None
    if worker.config.web is not None:  # the operators' web app, in this process, sharing the worker's link
        from hub.app import serve_worker  # noqa: PLC0415

        try:
            web = serve_worker(worker)
        except HubSetupError as exc:
            fail(str(exc))
    try:
        worker.run(stop)
    finally:
        if web is not None:
            web.stop()


@app.command("enrol")
def enrol_command(
    config: ConfigOption,
    device: Annotated[str, typer.Argument(help="Device id (also its broker user name).")],
    public_key: Annotated[Path, typer.Option(help="The terminal's Ed25519 public key (PEM).")],
    password_file: Annotated[Path, typer.Option(help="File holding the terminal's broker password.")],
    profile: Annotated[str, typer.Option(help="scanner, camera or handheld.")] = "scanner",
    site: Annotated[str | None, typer.Option(help="Site code.")] = None,
    grid_cell: Annotated[str | None, typer.Option(help="Grid cell code.")] = None,
) -> None:
    """Pre-authorise a terminal: its signing key at the hub and its credentials at the broker."""
    from hub.broker.dynsec import BrokerAdminError, DynSecAdmin  # noqa: PLC0415
    from hub.storage.devices import enrol  # noqa: PLC0415
    from hub.storage.engine import create_engine  # noqa: PLC0415
    from hub.storage.errors import StorageError  # noqa: PLC0415
    from hub.storage.migrate import upgrade  # noqa: PLC0415
    from protocol.keys import KeyFormatError, load_public_key_pem, spki_der  # noqa: PLC0415

    loaded = _load(config)
    try:
        key = load_public_key_pem(public_key.read_bytes())
        password = password_file.read_text().strip()
    except (OSError, KeyFormatError) as exc:
        fail(f"cannot read the terminal's key or password: {exc}")
    engine = create_engine(loaded.database.url)
    try:
        upgrade(engine)
        enrol(engine, device, spki_der(key), profile=profile, site=site, grid_cell=grid_cell, now=time.time())
    except StorageError as exc:
        fail(str(exc))
    finally:
        engine.dispose()
    broker = loaded.broker
    if broker.admin_user is None or broker.admin_password_file is None:
        print(f"enrolled {device} at the hub; add its broker credentials yourself (no broker admin configured)")
        return
    try:
        with DynSecAdmin(
            broker.host, broker.port, broker.admin_user, broker.admin_password_file.read_text().strip()
        ) as admin:
            admin.ensure_all()
            admin.enrol_device(device, password)
    except (OSError, BrokerAdminError) as exc:
        fail(f"enrolled at the hub, but the broker refused: {exc}; run the command again once the broker is up")
    print(f"enrolled {device}: hub and broker")


@app.command("publish-list")
def publish_list(
    config: ConfigOption,
    documents: Annotated[list[Path], typer.Argument(help="Signed trust lists or revocation updates, in order.")],
) -> None:
    """Verify district lists under the root key, keep them, and publish them retained to every terminal."""
    from hub.worker import HubSetupError, build  # noqa: PLC0415
    from protocol.documents import DocumentError  # noqa: PLC0415

    try:
        worker = build(_load(config))
    except HubSetupError as exc:
        fail(str(exc))
    worker.link.start()
    deadline = time.monotonic() + 10
    while not worker.link.connected and time.monotonic() < deadline:
        time.sleep(0.05)
    if not worker.link.connected:
        worker.link.stop()
        fail("cannot reach the broker: check [broker] in the config and that the broker runs")
    try:
        for path in documents:
            try:
                print(f"{path}: {worker.accept_list(path.read_bytes())}")
            except (OSError, DocumentError) as exc:
                print(f"{path}: not published ({exc})")
    finally:
        worker.link.stop()
