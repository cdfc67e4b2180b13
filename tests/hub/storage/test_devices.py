"""Devices: enrolment pre-authorised or approved, decommissioning, and which devices have a usable key."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy.engine import Engine

from hub.storage import devices
from hub.storage.devices import DeviceStatus
from hub.storage.errors import DeviceConflictError, DeviceStateError, InvalidValueError, UnknownDeviceError
from protocol.keys import load_public_key_der, spki_der
from tests.hub.storage.support import T0, public_key


def test_a_pre_authorised_device_is_enrolled_at_once(hub_engine: Engine) -> None:
    key = public_key()
    device = devices.enrol(hub_engine, "scanner-01", key, profile="scanner", site="Metro 2", grid_cell="A7", now=T0)
    assert (device.status, device.enrolled_at, device.site, device.grid_cell) == (
        DeviceStatus.ENROLLED, T0, "Metro 2", "A7",
    )  # fmt: skip
    found = devices.enrolled_key(hub_engine, "scanner-01")
    assert found is not None and spki_der(found) == key
    assert devices.get_device(hub_engine, "scanner-01") == device


def test_a_request_has_no_usable_key_until_approved(hub_engine: Engine) -> None:
    key = public_key()
    pending = devices.enrol(hub_engine, "handheld-7", key, profile="handheld", now=T0, approved=False)
    assert (pending.status, pending.enrolled_at) == (DeviceStatus.PENDING, None)
    assert devices.enrolled_key(hub_engine, "handheld-7") is None
    approved = devices.approve(hub_engine, "handheld-7", now=T0 + 60)
    assert (approved.status, approved.enrolled_at) == (DeviceStatus.ENROLLED, T0 + 60)
    assert devices.approve(hub_engine, "handheld-7", now=T0 + 99) == approved  # again: nothing changes
    assert devices.enrolled_key(hub_engine, "handheld-7") is not None


def test_enrolling_again_with_the_same_key_changes_nothing_and_another_key_conflicts(hub_engine: Engine) -> None:
    key = public_key()
    first = devices.enrol(hub_engine, "scanner-01", key, profile="scanner", now=T0)
    assert devices.enrol(hub_engine, "scanner-01", key, profile="scanner", now=T0 + 5) == first
    with pytest.raises(DeviceConflictError, match="another key"):
        devices.enrol(hub_engine, "scanner-01", public_key(), profile="scanner", now=T0)
    pending = devices.enrol(hub_engine, "camera-1", key, profile="camera", now=T0, approved=False)
    assert devices.enrol(hub_engine, "camera-1", key, profile="camera", now=T0 + 1).status is DeviceStatus.ENROLLED
    assert pending.status is DeviceStatus.PENDING


def test_a_decommissioned_device_is_retired_for_good(hub_engine: Engine) -> None:
    key = public_key()
    devices.enrol(hub_engine, "scanner-01", key, profile="scanner", now=T0)
    retired = devices.decommission(hub_engine, "scanner-01", now=T0 + 10)
    assert (retired.status, retired.decommissioned_at) == (DeviceStatus.DECOMMISSIONED, T0 + 10)
    assert devices.enrolled_key(hub_engine, "scanner-01") is None
    assert devices.decommission(hub_engine, "scanner-01", now=T0 + 20) == retired
    with pytest.raises(DeviceStateError, match="decommissioned"):
        devices.approve(hub_engine, "scanner-01", now=T0)
    with pytest.raises(DeviceStateError, match="new id"):
        devices.enrol(hub_engine, "scanner-01", key, profile="scanner", now=T0)
    assert [d.id for d in devices.list_devices(hub_engine, DeviceStatus.DECOMMISSIONED)] == ["scanner-01"]
    assert devices.list_devices(hub_engine, DeviceStatus.ENROLLED) == []


def test_unknown_devices(hub_engine: Engine) -> None:
    assert devices.get_device(hub_engine, "nobody") is None
    assert devices.enrolled_key(hub_engine, "nobody") is None
    with pytest.raises(UnknownDeviceError):
        devices.approve(hub_engine, "nobody", now=T0)
    with pytest.raises(UnknownDeviceError):
        devices.decommission(hub_engine, "nobody", now=T0)


@pytest.mark.parametrize(
    "case",
    [
        ("Scanner 01", None, "scanner", None, "device id"),
        ("x" * 65, None, "scanner", None, "device id"),
        ("scanner-01", b"not a key", "scanner", None, "not a public key"),
        ("scanner-01", "p256", "scanner", None, "Ed25519"),
        ("scanner-01", None, "toaster", None, "profile"),
        ("scanner-01", None, "scanner", "s" * 65, "site"),
    ],
)
def test_bad_enrolments_are_refused(
    hub_engine: Engine, case: tuple[str, bytes | str | None, str, str | None, str]
) -> None:
    device_id, key, profile, site, problem = case
    if key is None:
        key = public_key()
    elif key == "p256":
        key = spki_der(ec.generate_private_key(ec.SECP256R1()).public_key())
    assert isinstance(key, bytes)
    with pytest.raises(InvalidValueError, match=problem):
        devices.enrol(hub_engine, device_id, key, profile=profile, site=site, now=T0)
    assert devices.list_devices(hub_engine) == []


def test_the_stored_key_loads_as_the_enrolled_one(hub_engine: Engine) -> None:
    key = public_key()
    devices.enrol(hub_engine, "scanner-01", key, profile="scanner", now=T0)
    found = devices.enrolled_key(hub_engine, "scanner-01")
    assert found is not None
    assert spki_der(found) == spki_der(load_public_key_der(key))
