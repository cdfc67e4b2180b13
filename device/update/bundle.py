"""Release bundles: a tar of wheels, ``manifest.json`` (name, version, each file with size and SHA-256) and
``manifest.sig``, the release key's Ed25519 signature over the manifest's exact bytes.

Opening a bundle (:func:`open_bundle`) checks, in this order and before anything is installed: the tar is readable
to its end (a truncated copy is refused), it holds only regular files with safe names, the signature verifies
under the release public key provisioned on the terminal, the manifest is well formed, and each listed file is
present once with the listed size and hash, and nothing unlisted. Every size is bounded.
"""

from __future__ import annotations

import hashlib
import json
import re
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ed25519

from device.update.errors import BundleError

FORMAT = 1
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
WHEELS_DIR = "wheels"
SIGNATURE_BYTES = 64
MAX_MANIFEST_BYTES = 64 * 1024
MAX_MEMBERS = 256
MAX_FILE_BYTES = 256 * 2**20
MAX_BUNDLE_BYTES = 1024 * 2**20
CHUNK_BYTES = 1 << 20
END_OF_ARCHIVE_BYTES = 2 * tarfile.BLOCKSIZE
"""Two zero blocks end every tar archive; a copy without them was cut short."""
VERSION = re.compile(r"[0-9][0-9A-Za-z.+-]{0,63}")
WHEEL_PATH = re.compile(r"wheels/[A-Za-z0-9_.+-]{1,200}\.whl")
ENTRY = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*:[A-Za-z_][A-Za-z0-9_]*")
COMMAND = re.compile(r"[a-z][a-z0-9-]{0,31}")
HEX_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class FileEntry:
    """One file of the bundle."""

    path: str
    size: int
    sha256: str


@dataclass(frozen=True, slots=True)
class Manifest:
    """What a bundle says it is."""

    name: str
    version: str
    entry: str
    """``module:function`` of the command (``cli.main:main``)."""
    command: str
    """The launcher's name (``gridpass``)."""
    files: tuple[FileEntry, ...]
    created_at: float = 0.0

    def to_json(self) -> bytes:
        """The manifest's canonical bytes (what is signed)."""
        document = {
            "format": FORMAT, "name": self.name, "version": self.version, "entry": self.entry,
            "command": self.command, "created_at": self.created_at,
            "files": [{"path": f.path, "size": f.size, "sha256": f.sha256} for f in self.files],
        }  # fmt: skip
        return json.dumps(document, indent=1, sort_keys=True).encode()


def _text(document: dict[str, Any], key: str, pattern: re.Pattern[str]) -> str:
    value = document.get(key)
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise BundleError(f"the manifest's {key} is missing or malformed")
    return value


def parse_manifest(data: bytes) -> Manifest:
    """Parse a manifest strictly (after its signature was verified)."""
    if len(data) > MAX_MANIFEST_BYTES:
        raise BundleError("the manifest is too large")
    try:
        document = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BundleError("the manifest is not JSON") from exc
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise BundleError(f"the manifest is not format {FORMAT}")
    raw_files = document.get("files")
    if not isinstance(raw_files, list) or not 1 <= len(raw_files) <= MAX_MEMBERS - 2:
        raise BundleError("the manifest lists no files, or too many")
    files = []
    for item in raw_files:
        if not isinstance(item, dict):
            raise BundleError("a manifest file entry is not an object")
        path, size, digest = item.get("path"), item.get("size"), item.get("sha256")
        if not isinstance(path, str) or not WHEEL_PATH.fullmatch(path):
            raise BundleError(f"the manifest lists {str(path)[:80]!r}: only wheels/*.whl belong in a bundle")
        if not isinstance(size, int) or isinstance(size, bool) or not 0 < size <= MAX_FILE_BYTES:
            raise BundleError(f"the manifest's size of {path} is not a size")
        if not isinstance(digest, str) or not HEX_SHA256.fullmatch(digest):
            raise BundleError(f"the manifest's sha256 of {path} is not a SHA-256")
        files.append(FileEntry(path, size, digest))
    if len({f.path for f in files}) != len(files):
        raise BundleError("the manifest lists a file twice")
    created_at = document.get("created_at", 0.0)
    if not isinstance(created_at, int | float) or isinstance(created_at, bool):
        raise BundleError("the manifest's created_at is not a time")
    return Manifest(
        _text(document, "name", COMMAND), _text(document, "version", VERSION), _text(document, "entry", ENTRY),
        _text(document, "command", COMMAND), tuple(files), float(created_at),
    )  # fmt: skip


def sign_manifest(manifest: Manifest, key: ed25519.Ed25519PrivateKey) -> tuple[bytes, bytes]:
    """The manifest's bytes and their signature."""
    data = manifest.to_json()
    return data, key.sign(data)


@dataclass(frozen=True, slots=True)
class VerifiedBundle:
    """A bundle whose signature, manifest and files all checked out; its wheels extracted in ``directory``."""

    manifest: Manifest
    manifest_bytes: bytes
    directory: Path

    @property
    def wheels(self) -> list[Path]:
        """The extracted wheel files."""
        return [self.directory / entry.path for entry in self.manifest.files]


def _read_member(archive: tarfile.TarFile, member: tarfile.TarInfo, limit: int) -> bytes:
    if member.size > limit:
        raise BundleError(f"{member.name} in the bundle is too large")
    handle = archive.extractfile(member)
    if handle is None:
        raise BundleError(f"{member.name} in the bundle is not a file")
    data = handle.read(limit + 1)
    if len(data) != member.size:
        raise BundleError("the bundle is truncated: copy it again")
    return data


def _copy_checked(source: IO[bytes], target: Path, entry: FileEntry) -> None:
    digest = hashlib.sha256()
    written = 0
    with target.open("xb") as out:
        while chunk := source.read(CHUNK_BYTES):
            written += len(chunk)
            if written > entry.size:
                raise BundleError(f"{entry.path} is larger than the manifest says")
            digest.update(chunk)
            out.write(chunk)
    if written != entry.size:
        raise BundleError(f"{entry.path} is shorter than the manifest says: the bundle is truncated; copy it again")
    if digest.hexdigest() != entry.sha256:
        raise BundleError(f"{entry.path} does not match its SHA-256 in the manifest: the bundle was altered")


def _members(archive: tarfile.TarFile) -> dict[str, tarfile.TarInfo]:
    members: dict[str, tarfile.TarInfo] = {}
    total = 0
    for member in archive:
        if len(members) >= MAX_MEMBERS:
            raise BundleError("the bundle holds too many files")
        if member.isdir() and member.name.rstrip("/") == WHEELS_DIR:
            continue
        if not member.isfile():
            raise BundleError(f"{member.name[:80]!r} in the bundle is not a regular file")
        if member.name in members:
            raise BundleError(f"{member.name[:80]!r} is in the bundle twice")
        total += member.size
        if total > MAX_BUNDLE_BYTES:
            raise BundleError("the bundle is too large")
        members[member.name] = member
    return members


def open_bundle(path: Path, release_key: ed25519.Ed25519PublicKey, directory: Path) -> VerifiedBundle:
    """Verify the bundle at ``path`` and extract its wheels into the new folder ``directory``."""
    try:
        with tarfile.open(path, "r:") as archive:
            members = _members(archive)  # reads the whole index: a tar cut inside a header or member fails here
            if path.stat().st_size < archive.offset + END_OF_ARCHIVE_BYTES:
                raise BundleError("the bundle is truncated (its end-of-archive marker is missing): copy it again")
            if MANIFEST not in members or SIGNATURE not in members:
                raise BundleError("the bundle has no manifest.json or manifest.sig: not a release bundle")
            manifest_bytes = _read_member(archive, members[MANIFEST], MAX_MANIFEST_BYTES)
            signature = _read_member(archive, members[SIGNATURE], SIGNATURE_BYTES)
            try:
                release_key.verify(signature, manifest_bytes)
            except InvalidSignature as exc:
                raise BundleError(
                    "the bundle's signature is not the release key's: refused (forged or altered)"
                ) from exc
            manifest = parse_manifest(manifest_bytes)
            unlisted = set(members) - {MANIFEST, SIGNATURE} - {entry.path for entry in manifest.files}
            if unlisted:
                raise BundleError(f"the bundle holds files its manifest does not list: {sorted(unlisted)[:3]}")
            directory.mkdir(parents=True)
            (directory / WHEELS_DIR).mkdir()
            for entry in manifest.files:
                member = members.get(entry.path)
                if member is None:
                    raise BundleError(f"the bundle lacks {entry.path}, listed in its manifest")
                if member.size != entry.size:
                    raise BundleError(f"{entry.path} is not the size the manifest says: the bundle was altered")
                source = archive.extractfile(member)
                if source is None:
                    raise BundleError(f"{entry.path} in the bundle is not a file")
                _copy_checked(source, directory / entry.path, entry)
    except (tarfile.TarError, EOFError) as exc:
        raise BundleError(f"the bundle is truncated or not a tar archive ({exc}): copy it again") from exc
    except OSError as exc:
        raise BundleError(f"cannot read the bundle {path}: {exc.strerror or exc}") from exc
    return VerifiedBundle(manifest, manifest_bytes, directory)


def sha256_file(path: Path) -> str:
    """The hex SHA-256 of a file."""
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while chunk := source.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()
