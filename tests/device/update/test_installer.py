"""Updates for real: bundles of real wheels installed with pip beside the running version, a real service process
switched over, a good version kept, a bad one rolled back by itself, forged and broken bundles refused."""

from __future__ import annotations

import hashlib
import http.server
import json
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from device.update.bundle import MANIFEST, SIGNATURE
from device.update.errors import BundleError, RolledBackError
from device.update.installer import CURRENT, PREVIOUS, RELEASES, STATE_FILE, TMP, Installer, current_version
from tests.device.update.support import Service, make_bundle, make_wheel

RELEASE_KEY = ed25519.Ed25519PrivateKey.generate()
POLLS = 600
"""Health polls before the deadline (each 50 ms of real time, counted as 1 s of the installer's clock)."""


class PollClock:
    """The installer's monotonic clock advances by each wait; real time passes 50 ms per poll."""

    def __init__(self) -> None:
        self.now = 0.0
        self.stop = threading.Event()

    def wait(self, seconds: float) -> None:
        self.stop.wait(0.05)
        self.now += seconds


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    """The terminal's service, stopped at teardown."""
    data = tmp_path / "data"
    data.mkdir()
    running = Service(tmp_path / "opt", data)
    try:
        yield running
    finally:
        running.stop()


def installer(service: Service, key: ed25519.Ed25519PublicKey | None = None) -> Installer:
    """An installer of the service's root."""
    clock = PollClock()
    return Installer(
        service.root, key or RELEASE_KEY.public_key(), checks=service.checks, restart=service.restart,
        monotonic=lambda: clock.now, wait=clock.wait, deadline_s=POLLS,
    )  # fmt: skip


def nothing_half_written(root: Path, versions: set[str]) -> None:
    """Only complete releases, no leftovers being built or verified."""
    assert {p.name for p in (root / RELEASES).iterdir()} == versions
    assert list((root / TMP).iterdir()) == []


def test_a_good_bundle_installs_and_switches_then_a_bad_one_rolls_back_by_itself(
    tmp_path: Path, service: Service
) -> None:
    update = installer(service)
    first = update.install(make_bundle(tmp_path, "1.0.0", RELEASE_KEY))
    assert (first.version, first.previous, first.changed) == ("1.0.0", None, True)
    assert current_version(service.root) == "1.0.0"
    assert service.running_version() == "1.0.0"

    second = update.install(make_bundle(tmp_path, "1.1.0", RELEASE_KEY))
    assert (second.version, second.previous) == ("1.1.0", "1.0.0")
    assert service.running_version() == "1.1.0"
    assert (service.root / PREVIOUS).readlink() == Path(RELEASES) / "1.0.0"

    with pytest.raises(RolledBackError, match="camera: no frames") as failed:
        update.install(make_bundle(tmp_path, "1.2.0", RELEASE_KEY, healthy=False))
    assert "service" in failed.value.reasons
    assert current_version(service.root) == "1.1.0"
    assert service.running_version() == "1.1.0"
    assert service.starts == ["releases/1.0.0", "releases/1.1.0", "releases/1.2.0", "releases/1.1.0"]
    state = json.loads((service.root / STATE_FILE).read_text())
    assert (state["state"], state["version"], state["previous"]) == ("rolled-back", "1.2.0", "1.1.0")
    nothing_half_written(service.root, {"1.0.0", "1.1.0"})


def test_the_same_bundle_twice_changes_nothing(tmp_path: Path, service: Service) -> None:
    update = installer(service)
    bundle = make_bundle(tmp_path, "1.0.0", RELEASE_KEY)
    update.install(bundle)
    again = update.install(bundle)
    assert not again.changed
    assert service.starts == ["releases/1.0.0"]


def test_a_forged_signature_is_refused_and_nothing_changes(tmp_path: Path, service: Service) -> None:
    update = installer(service)
    update.install(make_bundle(tmp_path, "1.0.0", RELEASE_KEY))
    forger = ed25519.Ed25519PrivateKey.generate()
    with pytest.raises(BundleError, match="not the release key's"):
        update.install(make_bundle(tmp_path, "6.6.6", forger))
    with pytest.raises(BundleError, match=r"no manifest\.json or manifest\.sig"):
        update.install(make_bundle(tmp_path, "6.6.7", None))
    assert current_version(service.root) == "1.0.0"
    assert service.starts == ["releases/1.0.0"]
    nothing_half_written(service.root, {"1.0.0"})


def _rewrite(bundle: Path, out: Path, replace: dict[str, bytes]) -> Path:
    """A copy of ``bundle`` with some members' bytes replaced (the manifest and signature kept)."""
    with tarfile.open(bundle) as source, tarfile.open(out, "w") as target:
        for member in source:
            handle = source.extractfile(member)
            assert handle is not None
            data = replace.get(member.name, handle.read())
            member.size = len(data)
            target.addfile(member, __import__("io").BytesIO(data))
    return out


def test_a_wheel_swapped_under_a_valid_signature_is_refused(tmp_path: Path, service: Service) -> None:
    good = make_bundle(tmp_path, "2.0.0", RELEASE_KEY)
    evil_wheel = make_wheel(tmp_path / "evil", "2.0.0", healthy=False).read_bytes()
    swapped = _rewrite(good, tmp_path / "swapped.bundle", {"wheels/gpapp-2.0.0-py3-none-any.whl": evil_wheel})
    with pytest.raises(BundleError, match=r"SHA-256|size"):
        installer(service).install(swapped)
    with tarfile.open(good) as archive:
        manifest = json.loads(archive.extractfile(MANIFEST).read())  # type: ignore[union-attr]
    manifest["version"] = "9.9.9"
    edited = _rewrite(good, tmp_path / "edited.bundle", {MANIFEST: json.dumps(manifest).encode()})
    with pytest.raises(BundleError, match="signature"):
        installer(service).install(edited)
    assert current_version(service.root) is None
    assert service.starts == []
    nothing_half_written(service.root, set())


def cut_points(bundle: Path) -> dict[str, int]:
    """Where a copy can stop: in the first header, inside the wheel, inside the end-of-archive marker."""
    with tarfile.open(bundle) as archive:
        wheel = next(member for member in archive if member.name.endswith(".whl"))
        return {"header": 100, "wheel": wheel.offset_data + wheel.size // 2, "end marker": archive.offset + 512}


@pytest.mark.parametrize("where", ["header", "wheel", "end marker"])
def test_a_truncated_bundle_is_refused(tmp_path: Path, service: Service, where: str) -> None:
    bundle = make_bundle(tmp_path, "3.0.0", RELEASE_KEY)
    data = bundle.read_bytes()
    cut = tmp_path / "cut.bundle"
    cut.write_bytes(data[: cut_points(bundle)[where]])
    with pytest.raises(BundleError, match=r"truncated|shorter|no manifest"):
        installer(service).install(cut)
    assert current_version(service.root) is None
    nothing_half_written(service.root, set())


def test_an_update_interrupted_during_its_health_check_is_undone_at_the_next_start(
    tmp_path: Path, service: Service
) -> None:
    update = installer(service)
    update.install(make_bundle(tmp_path, "1.0.0", RELEASE_KEY))
    calls = {"n": 0}

    def power_cut(since: float) -> list[object]:
        calls["n"] += 1
        raise KeyboardInterrupt  # the power fails right after the switch

    cut = Installer(service.root, RELEASE_KEY.public_key(), checks=power_cut, restart=service.restart)  # type: ignore[arg-type]
    with pytest.raises(KeyboardInterrupt):
        cut.install(make_bundle(tmp_path, "1.1.0", RELEASE_KEY))
    assert current_version(service.root) == "1.1.0"
    assert json.loads((service.root / STATE_FILE).read_text())["state"] == "trying"
    assert update.recover() == "rolled back to 1.0.0 (an update was interrupted during its health check)"
    assert current_version(service.root) == "1.0.0"
    assert service.running_version() == "1.0.0"
    assert (service.root / CURRENT).readlink() == Path(RELEASES) / "1.0.0"


class _Files(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        return None


@pytest.fixture
def file_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A loopback HTTP server of a folder (as the hub serves bundles), stopped at teardown."""
    folder = tmp_path / "served"
    folder.mkdir()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), lambda *a: _Files(*a, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, name="bundle-server")
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", folder
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_the_same_bundle_installs_from_a_url_with_its_hash(
    tmp_path: Path, service: Service, file_server: tuple[str, Path]
) -> None:
    url, folder = file_server
    bundle = make_bundle(tmp_path, "4.0.0", RELEASE_KEY)
    (folder / bundle.name).write_bytes(bundle.read_bytes())
    digest = hashlib.sha256(bundle.read_bytes()).hexdigest()
    update = installer(service)
    with pytest.raises(BundleError, match="does not match the SHA-256"):
        update.install_from_url(f"{url}/{bundle.name}", "0" * 64)
    with pytest.raises(BundleError, match="not a hex SHA-256"):
        update.install_from_url(f"{url}/{bundle.name}", "xyz")
    assert current_version(service.root) is None
    outcome = update.install_from_url(f"{url}/{bundle.name}", digest)
    assert outcome.version == "4.0.0"
    assert service.running_version() == "4.0.0"
    nothing_half_written(service.root, {"4.0.0"})


def test_the_signature_member_is_checked_before_the_manifest_is_believed(tmp_path: Path, service: Service) -> None:
    good = make_bundle(tmp_path, "5.0.0", RELEASE_KEY)
    broken = _rewrite(good, tmp_path / "sig.bundle", {SIGNATURE: b"\x00" * 64})
    with pytest.raises(BundleError, match="signature"):
        installer(service).install(broken)
