"""``gridpass district serve`` and ``gridpass district hub-token``: run the reference district center, admit hubs."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated

import typer

from cli.errors import fail


def serve_command(
    data: Annotated[Path, typer.Option(help="Directory of the center's database (made if missing).")],
    tokens: Annotated[Path, typer.Option(help="The hub tokens file (gridpass district hub-token appends to it).")],
    root: Annotated[Path, typer.Option(help="The district root public key: served lists must verify under it.")],
    trust_list: Annotated[Path | None, typer.Option(help="The signed trust list to serve (trust-list --out).")] = None,
    ledger: Annotated[Path | None, typer.Option(help="The revocation ledger directory (revoke --state).")] = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8443,
    tls_cert: Annotated[Path | None, typer.Option(help="Server certificate (PEM): serve HTTPS.")] = None,
    tls_key: Annotated[Path | None, typer.Option(help="Its private key (PEM).")] = None,
    client_ca: Annotated[Path | None, typer.Option(help="Require hub client certificates from this CA (mTLS).")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log every request.")] = False,
) -> None:
    """Run the reference district center until SIGTERM or Ctrl-C: it stores relayed batches and serves the lists."""
    import signal  # noqa: PLC0415 - only this command serves
    import ssl  # noqa: PLC0415

    import uvicorn  # noqa: PLC0415

    from district.server.app import DistrictSettings, DistrictSetupError, create_app  # noqa: PLC0415

    if (tls_cert is None) != (tls_key is None):
        fail("--tls-cert and --tls-key go together", code=2)
    if client_ca is not None and tls_cert is None:
        fail("--client-ca needs --tls-cert and --tls-key", code=2)
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    try:
        app = create_app(DistrictSettings(data, tokens, root, trust_list=trust_list, ledger=ledger))
    except DistrictSetupError as exc:
        fail(str(exc))
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="info" if verbose else "warning",
        ssl_certfile=str(tls_cert) if tls_cert else None,
        ssl_keyfile=str(tls_key) if tls_key else None,
        ssl_ca_certs=str(client_ca) if client_ca else None,
        ssl_cert_reqs=ssl.CERT_REQUIRED if client_ca else ssl.CERT_NONE,
        server_header=False,
    )
    # uvicorn stops gracefully on SIGTERM/SIGINT and then raises the signal again for the previous handler: make
    # that handler a no-op, so a clean stop exits 0.
    signal.signal(signal.SIGTERM, lambda *_: None)
    signal.signal(signal.SIGINT, lambda *_: None)
    uvicorn.Server(config).run()


def hub_token_command(
    hub: Annotated[str, typer.Argument(help="The hub's id, e.g. SH-PD-hub-1.")],
    tokens: Annotated[Path, typer.Option(help="The center's hub tokens file (the token's hash is appended).")],
    out: Annotated[Path, typer.Option(help="Where to write the token for the hub (0600; its [district] token_file).")],
) -> None:
    """Admit a hub: make its bearer token (written to --out, never printed), keep only the token's hash."""
    from district.server.tokens import TokenFileError, add_hub  # noqa: PLC0415

    try:
        add_hub(tokens, hub, out)
    except TokenFileError as exc:
        fail(str(exc))
    print(json.dumps({"hub": hub, "token_file": str(out), "tokens": str(tokens)}))
