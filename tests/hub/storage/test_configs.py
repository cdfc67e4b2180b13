"""Pushed configurations in the hub database, on SQLite and PostgreSQL: numbered per device, only for enrolled
devices, unpublished ones found for the worker, answers kept."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine

from hub.storage import devices
from hub.storage.configs import (
    config_history,
    latest_config,
    mark_published,
    record_config_answer,
    store_config,
    unpublished_configs,
)
from hub.storage.errors import DeviceStateError, UnknownDeviceError
from tests.hub.storage.support import T0, enrol


def payload(version: int) -> bytes:
    return f"signed:{version}".encode()


def test_versions_count_up_per_device(hub_engine: Engine) -> None:
    enrol(hub_engine, "scanner-01")
    enrol(hub_engine, "scanner-02")
    first = store_config(hub_engine, "scanner-01", {"scan": {"hold_off_s": 2}}, payload, created_by="ann", now=T0)
    second = store_config(hub_engine, "scanner-01", {"scan": {"hold_off_s": 3}}, payload, created_by="bo", now=T0 + 1)
    other = store_config(hub_engine, "scanner-02", {}, payload, created_by="ann", now=T0)
    assert (first.version, second.version, other.version) == (1, 2, 1)
    latest = latest_config(hub_engine, "scanner-01")
    assert latest is not None
    assert (latest.version, latest.settings, latest.payload, latest.created_by) == (
        2, {"scan": {"hold_off_s": 3}}, b"signed:2", "bo",
    )  # fmt: skip
    assert [c.version for c in config_history(hub_engine, "scanner-01")] == [2, 1]


def test_only_enrolled_devices_get_configs(hub_engine: Engine) -> None:
    with pytest.raises(UnknownDeviceError):
        store_config(hub_engine, "nobody", {}, payload, created_by="ann", now=T0)
    enrol(hub_engine, "scanner-01")
    devices.decommission(hub_engine, "scanner-01", now=T0 + 5)
    with pytest.raises(DeviceStateError):
        store_config(hub_engine, "scanner-01", {}, payload, created_by="ann", now=T0)
    assert latest_config(hub_engine, "scanner-01") is None


def test_the_newest_unpublished_version_per_device_is_found_until_published(hub_engine: Engine) -> None:
    enrol(hub_engine, "scanner-01")
    enrol(hub_engine, "scanner-02")
    store_config(hub_engine, "scanner-01", {}, payload, created_by="ann", now=T0)
    store_config(hub_engine, "scanner-01", {}, payload, created_by="ann", now=T0)
    store_config(hub_engine, "scanner-02", {}, payload, created_by="ann", now=T0)
    pending = sorted((c.device_id, c.version) for c in unpublished_configs(hub_engine))
    assert pending == [("scanner-01", 2), ("scanner-02", 1)]
    mark_published(hub_engine, "scanner-01", 2, now=T0 + 1)
    assert [(c.device_id, c.version) for c in unpublished_configs(hub_engine)] == [("scanner-02", 1)]
    devices.decommission(hub_engine, "scanner-02", now=T0 + 2)
    assert unpublished_configs(hub_engine) == []


def test_the_answer_is_kept_beside_its_version(hub_engine: Engine) -> None:
    enrol(hub_engine, "scanner-01")
    store_config(hub_engine, "scanner-01", {}, payload, created_by="ann", now=T0)
    assert record_config_answer(hub_engine, "scanner-01", 1, ok=False, detail="invalid: x" * 40, now=T0 + 3)
    assert not record_config_answer(hub_engine, "scanner-01", 9, ok=True, detail="", now=T0 + 3)
    latest = latest_config(hub_engine, "scanner-01")
    assert latest is not None
    assert (latest.answer_ok, latest.answered_at) == (False, T0 + 3)
    assert latest.answer_detail is not None
    assert len(latest.answer_detail) == 128
