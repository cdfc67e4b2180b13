"""``gridpass release ...``: make terminal release bundles from wheels, and sign them with the release key."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from cryptography.hazmat.primitives.asymmetric import ed25519

from cli.errors import fail
from device.update.errors import BundleError
from district.keyfiles import KeyFileError, read_private
from hardware.release.build import DEFAULT_COMMAND, DEFAULT_ENTRY, build_bundle, sign_bundle

app = typer.Typer(help="Releases: bundle wheels for terminals, sign bundles.", no_args_is_help=True)

KeyOption = Annotated[Path, typer.Option("--key", help="The release private key (Ed25519, 'district keygen').")]


def _key(path: Path) -> ed25519.Ed25519PrivateKey:
    try:
        key = read_private(path)
    except KeyFileError as exc:
        fail(str(exc))
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        fail(f"{path} is not an Ed25519 key: make the release key with 'gridpass district keygen release --alg eddsa'")
    return key


@app.command("build")
def build(
    wheels: Annotated[list[Path], typer.Argument(help="The wheels of the release (gridpass and changed deps).")],
    version: Annotated[str, typer.Option(help="The release version, e.g. 1.4.0.")],
    out: Annotated[Path, typer.Option(help="The bundle file to write.")],
    key: Annotated[Path | None, typer.Option("--key", help="Sign with this release key now (else: 'sign').")] = None,
    entry: Annotated[str, typer.Option(help="module:function the launcher runs.")] = DEFAULT_ENTRY,
    command: Annotated[str, typer.Option(help="The launcher's name.")] = DEFAULT_COMMAND,
) -> None:
    """Bundle wheels with a manifest (sizes and SHA-256s), signed when --key is given."""
    signing = _key(key) if key is not None else None
    try:
        manifest = build_bundle(wheels, version=version, out=out, key=signing, entry=entry, command=command)
    except BundleError as exc:
        fail(str(exc))
    state = "signed" if signing is not None else "unsigned: run 'gridpass release sign'"
    print(f"{out}: {manifest.name} {manifest.version}, {len(manifest.files)} wheels, {state}")


@app.command("sign")
def sign(
    bundle: Annotated[Path, typer.Argument(help="The bundle to sign.")],
    key: KeyOption,
    out: Annotated[Path | None, typer.Option(help="Write the signed bundle here (default: in place).")] = None,
) -> None:
    """Sign a bundle's manifest with the release key (checks every wheel against the manifest first)."""
    try:
        manifest = sign_bundle(bundle, _key(key), out)
    except BundleError as exc:
        fail(str(exc))
    print(f"{out or bundle}: {manifest.name} {manifest.version} signed")
