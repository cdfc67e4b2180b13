"""``gridpass hub tls ...``: the site CA that terminals pin, and the broker's server certificate."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from cli.errors import fail
from hub.tls import TlsError, make_ca, make_server_cert

app = typer.Typer(help="The site's TLS: a CA terminals pin, server certificates for the broker.", no_args_is_help=True)

DirOption = Annotated[Path, typer.Option("--dir", help="Where the CA lives (keep ca.key.pem private).")]


@app.command("init")
def init_command(
    directory: DirOption,
    site: Annotated[str, typer.Option(help="Site code, written into the CA's name.")],
    name: Annotated[
        list[str], typer.Option("--name", help="Host name or address terminals use to reach the hub (repeat).")
    ],
) -> None:
    """Make the site CA and a server certificate for the broker; give ca.pem to the flashing tool."""
    try:
        ca_cert, _ = make_ca(directory, site)
        files = make_server_cert(directory, name)
    except TlsError as exc:
        fail(str(exc))
    print(json.dumps({"ca": str(ca_cert), "cert": str(files.cert), "key": str(files.key)}))


@app.command("server-cert")
def server_cert_command(
    directory: DirOption,
    name: Annotated[list[str], typer.Option("--name", help="Host name or address (repeat).")],
    out_name: Annotated[str, typer.Option(help="File name stem of the certificate and key.")] = "server",
) -> None:
    """A new server certificate from the existing CA (renewal, another host name)."""
    try:
        files = make_server_cert(directory, name, out_name=out_name)
    except TlsError as exc:
        fail(str(exc))
    print(json.dumps({"cert": str(files.cert), "key": str(files.key)}))
