"""The bundle format: built, signed later, parsed strictly."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from hypothesis import given
from hypothesis import strategies as st

from device.update.bundle import MANIFEST, SIGNATURE, open_bundle, parse_manifest
from device.update.errors import BundleError
from hardware.release.build import build_bundle, sign_bundle
from tests.device.update.support import make_wheel

KEY = ed25519.Ed25519PrivateKey.generate()


def test_an_unsigned_bundle_signed_later_opens_with_every_wheel_intact(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path / "w", "1.0.0")
    out = tmp_path / "gridpass-1.0.0.bundle"
    manifest = build_bundle([wheel], version="1.0.0", out=out, now=5.0)
    with tarfile.open(out) as archive:
        assert sorted(archive.getnames()) == [MANIFEST, f"wheels/{wheel.name}"]
    with pytest.raises(BundleError, match=r"no manifest\.json or manifest\.sig"):
        open_bundle(out, KEY.public_key(), tmp_path / "x")
    assert sign_bundle(out, KEY) == manifest
    with tarfile.open(out) as archive:
        assert sorted(archive.getnames()) == [MANIFEST, SIGNATURE, f"wheels/{wheel.name}"]
    opened = open_bundle(out, KEY.public_key(), tmp_path / "opened")
    assert opened.manifest == manifest
    assert opened.wheels[0].read_bytes() == wheel.read_bytes()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_a_bundle_needs_wheels_and_a_sane_version(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("x")
    with pytest.raises(BundleError, match="not a wheel"):
        build_bundle([notes], version="1.0.0", out=tmp_path / "b")
    with pytest.raises(BundleError, match="version"):
        build_bundle([make_wheel(tmp_path / "w", "1.0.0")], version="../1", out=tmp_path / "b")
    assert not (tmp_path / "b").exists()


def test_unlisted_files_in_a_bundle_are_refused(tmp_path: Path) -> None:
    out = tmp_path / "b.bundle"
    build_bundle([make_wheel(tmp_path / "w", "1.0.0")], version="1.0.0", out=out, key=KEY)
    extra = tmp_path / "extra.bundle"
    with tarfile.open(out) as source, tarfile.open(extra, "w") as target:
        for member in source:
            target.addfile(member, source.extractfile(member))
        info = tarfile.TarInfo("wheels/evil-1-py3-none-any.whl")
        info.size = 0
        target.addfile(info)
    with pytest.raises(BundleError, match="does not list"):
        open_bundle(extra, KEY.public_key(), tmp_path / "x")
    assert not (tmp_path / "x").exists()


@given(st.binary(max_size=600))
def test_any_manifest_bytes_parse_or_are_refused(data: bytes) -> None:
    try:
        manifest = parse_manifest(data)
    except BundleError as exc:
        refusal = str(exc)
    else:
        refusal = ""
        assert parse_manifest(manifest.to_json()) == manifest
    assert refusal or manifest


@given(
    st.from_regex(r"[0-9][0-9A-Za-z.+-]{0,20}", fullmatch=True),
    st.lists(st.from_regex(r"[a-z]{1,10}", fullmatch=True), min_size=1, max_size=5, unique=True),
    st.integers(1, 2**20),
)
def test_manifests_round_trip(version: str, names: list[str], size: int) -> None:
    files = ", ".join(f'{{"path": "wheels/{n}.whl", "size": {size}, "sha256": "{"a" * 64}"}}' for n in names)
    head = f'"format": 1, "name": "gridpass", "version": "{version}", "entry": "cli.main:main", "command": "gridpass"'
    raw = "{" + head + f', "files": [{files}]' + "}"
    manifest = parse_manifest(raw.encode())
    assert parse_manifest(manifest.to_json()) == manifest
    assert [f.path for f in manifest.files] == [f"wheels/{n}.whl" for n in names]
