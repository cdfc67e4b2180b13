"""Key files on disk: private keys 0600 and never printed, public keys beside them."""

from __future__ import annotations

import os
from pathlib import Path

from protocol.keys import (
    Alg,
    KeyFormatError,
    PrivateKey,
    PublicKey,
    generate_private_key,
    kid_of_public_key,
    load_private_key_pem,
    load_public_key_pem,
    private_key_pem,
    public_key_pem,
)

PRIVATE_SUFFIX = ".key.pem"
PUBLIC_SUFFIX = ".pub.pem"


class KeyFileError(Exception):
    """A key file is missing, unreadable or of the wrong kind; the message says what to do."""


def write_private(path: Path, key: PrivateKey) -> None:
    """Write a private key readable by its owner only; refuses to overwrite (a lost key is a re-flash)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as exc:
        raise KeyFileError(f"{path} exists: keys are never overwritten; remove it first or pick another name") from exc
    with os.fdopen(fd, "wb") as out:
        out.write(private_key_pem(key))


def keygen(directory: Path, name: str, alg: Alg) -> tuple[Path, Path, bytes]:
    """Make ``NAME.key.pem`` (0600) and ``NAME.pub.pem`` in ``directory``; returns both paths and the kid."""
    directory.mkdir(parents=True, exist_ok=True)
    key = generate_private_key(alg)
    private_path = directory / f"{name}{PRIVATE_SUFFIX}"
    public_path = directory / f"{name}{PUBLIC_SUFFIX}"
    write_private(private_path, key)
    public_path.write_bytes(public_key_pem(key.public_key()))
    return private_path, public_path, kid_of_public_key(key.public_key())


def read_private(path: Path) -> PrivateKey:
    """Load a private key file, with a message that says what is wrong."""
    try:
        return load_private_key_pem(path.read_bytes())
    except OSError as exc:
        raise KeyFileError(f"cannot read {path}: {exc.strerror}") from exc
    except KeyFormatError as exc:
        raise KeyFileError(f"{path} is not a private key made by 'gridpass district keygen' ({exc})") from exc


def read_public(path: Path) -> PublicKey:
    """Load a public key (PEM public key, certificate, or the public half of a private key file)."""
    try:
        return load_public_key_pem(path.read_bytes())
    except OSError as exc:
        raise KeyFileError(f"cannot read {path}: {exc.strerror}") from exc
    except KeyFormatError as exc:
        raise KeyFileError(f"{path} is not a PEM public key ({exc})") from exc
