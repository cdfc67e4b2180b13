"""The site CA and a TLS listener on a real mosquitto: a terminal that pins the site CA connects over TLS with its
own credentials; one that pins another CA is never connected; the CA is never replaced silently."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509

from device.sync.link import BrokerSettings, DeviceLink, LinkStatus
from hub.broker.dynsec import DynSecAdmin
from hub.broker.local import LocalBroker, TlsListener, free_port
from hub.tls import TlsError, make_ca, make_server_cert

DEVICE, PASSWORD = "scanner-41", "scanner-41-secret"
WAIT_S = 15.0


@pytest.fixture
def tls_broker(tmp_path: Path) -> Iterator[tuple[LocalBroker, Path]]:
    make_ca(tmp_path / "ca", "SH-PD")
    files = make_server_cert(tmp_path / "ca", ["127.0.0.1", "hub.sh-pd.example"])
    broker = LocalBroker(tmp_path / "mosquitto", free_port(), tls=TlsListener(free_port(), files.cert, files.key))
    broker.start()
    try:
        with DynSecAdmin(broker.host, broker.port, broker.admin_user, broker.admin_password) as admin:
            admin.ensure_all()
            admin.enrol_device(DEVICE, PASSWORD)
        yield broker, files.ca_cert
    finally:
        broker.stop()


def link(broker: LocalBroker, ca_file: Path) -> DeviceLink:
    assert broker.tls is not None
    return DeviceLink(
        BrokerSettings("127.0.0.1", broker.tls.port, DEVICE, PASSWORD, ca_file=ca_file),
        will=b"", birth=lambda: b"", stopped=lambda: b"", subscriptions=[], on_message=lambda _t, _p: None,
    )  # fmt: skip


def test_a_terminal_pinning_the_site_ca_connects_over_tls(tls_broker: tuple[LocalBroker, Path]) -> None:
    broker, ca_file = tls_broker
    terminal = link(broker, ca_file)
    terminal.start()
    try:
        deadline = time.monotonic() + WAIT_S
        while terminal.status is not LinkStatus.CONNECTED and time.monotonic() < deadline:
            time.sleep(0.05)
        assert terminal.status is LinkStatus.CONNECTED
    finally:
        terminal.stop(clean=True)


def test_a_terminal_pinning_another_ca_never_connects(tls_broker: tuple[LocalBroker, Path], tmp_path: Path) -> None:
    broker, _ca_file = tls_broker
    other_ca, _ = make_ca(tmp_path / "other", "elsewhere")
    terminal = link(broker, other_ca)
    terminal.start()
    try:
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline:
            assert terminal.status is not LinkStatus.CONNECTED
            time.sleep(0.05)
    finally:
        terminal.stop(clean=True)


def test_the_ca_is_never_replaced_and_the_server_cert_names_its_hosts(tmp_path: Path) -> None:
    make_ca(tmp_path, "SH-PD")
    with pytest.raises(TlsError, match="never replaced"):
        make_ca(tmp_path, "SH-PD")
    files = make_server_cert(tmp_path, ["10.0.0.5", "hub.local"])
    cert = x509.load_pem_x509_certificate(files.cert.read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == ["10.0.0.5"]
    assert names.get_values_for_type(x509.DNSName) == ["hub.local"]
    assert files.key.stat().st_mode & 0o077 == 0
    with pytest.raises(TlsError, match="tls-init"):
        make_server_cert(tmp_path / "none", ["hub.local"])
