"""Make a release bundle from wheels (``gridpass release build``) and sign it (``gridpass release sign``).

The format is ``device/update/bundle.py``'s; a bundle is written to a temporary file beside the output and renamed
into place, so a half-written bundle never carries the final name.
"""

from __future__ import annotations

import io
import os
import tarfile
import time
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ed25519

from device.update.bundle import (
    MANIFEST,
    MAX_MANIFEST_BYTES,
    SIGNATURE,
    WHEELS_DIR,
    FileEntry,
    Manifest,
    parse_manifest,
    sha256_file,
    sign_manifest,
)
from device.update.errors import BundleError

DEFAULT_ENTRY = "cli.main:main"
DEFAULT_COMMAND = "gridpass"


def _add_bytes(archive: tarfile.TarFile, name: str, data: bytes, mtime: float) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = int(mtime)
    info.mode = 0o644
    archive.addfile(info, io.BytesIO(data))


def _write(
    out: Path, manifest: Manifest, manifest_bytes: bytes, signature: bytes | None, wheels: dict[str, Path]
) -> None:
    temporary = out.with_name(f".{out.name}.tmp")
    try:
        with tarfile.open(temporary, "w", format=tarfile.PAX_FORMAT) as archive:
            _add_bytes(archive, MANIFEST, manifest_bytes, manifest.created_at)
            if signature is not None:
                _add_bytes(archive, SIGNATURE, signature, manifest.created_at)
            for entry in manifest.files:
                info = archive.gettarinfo(str(wheels[entry.path]), arcname=entry.path)
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                with wheels[entry.path].open("rb") as source:
                    archive.addfile(info, source)
        with temporary.open("rb+") as written:
            os.fsync(written.fileno())
        temporary.replace(out)
    finally:
        temporary.unlink(missing_ok=True)


def build_bundle(
    wheels: list[Path], *, version: str, out: Path, key: ed25519.Ed25519PrivateKey | None = None,
    name: str = DEFAULT_COMMAND, entry: str = DEFAULT_ENTRY, command: str = DEFAULT_COMMAND,
    now: float | None = None,
) -> Manifest:  # fmt: skip
    """Write the bundle of ``wheels`` at ``out`` (signed when ``key`` is given) and return its manifest."""
    by_path: dict[str, Path] = {}
    for wheel in wheels:
        if wheel.suffix != ".whl" or not wheel.is_file():
            raise BundleError(f"{wheel} is not a wheel file")
        by_path[f"{WHEELS_DIR}/{wheel.name}"] = wheel
    files = tuple(FileEntry(path, wheel.stat().st_size, sha256_file(wheel)) for path, wheel in sorted(by_path.items()))
    manifest = Manifest(name, version, entry, command, files, time.time() if now is None else now)
    manifest = parse_manifest(manifest.to_json())  # the same rules as the terminal applies
    data = manifest.to_json()
    signature = key.sign(data) if key is not None else None
    _write(out, manifest, data, signature, by_path)
    return manifest


def sign_bundle(bundle: Path, key: ed25519.Ed25519PrivateKey, out: Path | None = None) -> Manifest:
    """Add (or replace) the signature of an unsigned bundle, e.g. on the offline signing machine."""
    target = out or bundle
    extract = bundle.with_name(f".{bundle.name}.wheels")
    try:
        with tarfile.open(bundle, "r:") as archive:
            member = archive.getmember(MANIFEST)
            handle = archive.extractfile(member)
            if handle is None or member.size > MAX_MANIFEST_BYTES:
                raise BundleError(f"{bundle} has no usable manifest.json")
            manifest_bytes = handle.read()
            manifest = parse_manifest(manifest_bytes)
            extract.mkdir()
            wheels: dict[str, Path] = {}
            for entry in manifest.files:
                source = archive.extractfile(archive.getmember(entry.path))
                if source is None:
                    raise BundleError(f"{entry.path} in {bundle} is not a file")
                path = extract / Path(entry.path).name
                path.write_bytes(source.read())
                if sha256_file(path) != entry.sha256:
                    raise BundleError(f"{entry.path} does not match the manifest: rebuild the bundle")
                wheels[entry.path] = path
        _data, signature = sign_manifest(manifest, key)
        if _data != manifest_bytes:
            raise BundleError("the manifest is not in canonical form: rebuild the bundle with 'gridpass release build'")
        _write(target, manifest, manifest_bytes, signature, wheels)
    except (tarfile.TarError, KeyError, EOFError) as exc:
        raise BundleError(f"{bundle} is not a release bundle ({exc})") from exc
    finally:
        if extract.exists():
            for child in extract.iterdir():
                child.unlink()
            extract.rmdir()
    return manifest
