"""``/metrics``: needs a token or session; reports ingest, refusals, backlog, relay queue and list versions."""

from __future__ import annotations

import time

from cryptography.hazmat.primitives.asymmetric import ed25519
from prometheus_client.parser import text_string_to_metric_families

from hub.accounts.roles import Role
from hub.api.services import HubServices
from hub.app import create_app
from hub.ingest import Ingest
from hub.storage import devices
from hub.storage.lists import store_trust_list
from protocol import topics
from protocol.keys import spki_der
from protocol.messages import DeviceState, StateMessage, seal_state
from tests.hub.api.conftest import WEB, Hub
from tests.hub.api.support import bearer


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_metrics_need_a_login_and_count_refused_requests(hub: Hub) -> None:
    assert hub.client.get("/metrics").status_code == 401
    too_large = b"{" + b" " * WEB.max_body_bytes + b"}"
    assert hub.client.post("/api/v1/auth/login", content=too_large).status_code == 413
    assert hub.client.post("/api/v1/auth/login", json={"username": "viewer"}).status_code == 422
    samples = _samples(hub.client.get("/metrics", headers=bearer(hub.tokens[Role.VIEWER])).text)
    for status in ("401", "413", "422"):
        assert samples[("gridpass_hub_http_refusals_total", (("status", status),))] == 1


def test_metrics_report_the_hub(hub: Hub) -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    devices.enrol(hub.engine, "scanner-01", spki_der(key.public_key()), profile="scanner", now=hub.clock.now)
    store_trust_list(hub.engine, b"trust-document", seq=4, ts=1, now=hub.clock.now)
    ingest = Ingest(hub.engine, lambda _t, _d: True, clock=hub.clock, monotonic=time.monotonic)
    info = {"backlog": {"events": 12, "snapshots": 2}, "lists": {"trust": 3, "revocations": {"CN-SH-PD": 5}}}
    ingest.handle(topics.state("scanner-01"), seal_state(StateMessage("scanner-01", DeviceState.ONLINE, b"\x02" * 16,
                                                                      hub.clock.now, info), key))  # fmt: skip
    ingest.handle(topics.up("scanner-01", topics.Stream.EVENTS), b"not a batch")
    ingest.handle("gridpass/v1/elsewhere", b"")
    app = create_app(WEB, HubServices(hub.engine, hub.clock, ingest=ingest))
    from fastapi.testclient import TestClient

    with TestClient(app) as client:
        response = client.get("/metrics", headers=bearer(hub.tokens[Role.VIEWER]))
    assert response.status_code == 200
    samples = _samples(response.text)
    assert samples[("gridpass_hub_database_up", ())] == 1
    assert samples[("gridpass_hub_device_backlog", (("device", "scanner-01"), ("stream", "events")))] == 12
    assert samples[("gridpass_hub_device_backlog", (("device", "scanner-01"), ("stream", "snapshots")))] == 2
    assert samples[("gridpass_hub_device_connected", (("device", "scanner-01"),))] == 1
    assert samples[("gridpass_hub_device_list_version", (("device", "scanner-01"), ("list", "CN-SH-PD")))] == 5
    assert samples[("gridpass_hub_device_list_version", (("device", "scanner-01"), ("list", "trust")))] == 3
    assert samples[("gridpass_hub_list_version", (("kind", "trust"), ("list", "trust")))] == 4
    assert samples[("gridpass_hub_refusals_total", (("reason", "bad_cose"),))] == 1
    assert samples[("gridpass_hub_refusals_total", (("reason", "bad_topic"),))] == 1
    assert samples[("gridpass_hub_worker_refusals_total", (("reason", "bad_topic"),))] == 1
    assert samples[("gridpass_hub_records_stored_total", ())] == 0
    assert samples[("gridpass_hub_relay_queue_depth", ())] == 0
    assert samples[("gridpass_hub_relay_oldest_age_seconds", ())] == 0
    assert samples[("gridpass_hub_devices", (("status", "enrolled"),))] == 1


def test_a_database_that_fails_is_reported_not_raised(hub: Hub) -> None:
    hub.engine.dispose()
    from hub.storage.engine import create_engine

    broken = create_engine("sqlite:////nonexistent-dir/hub.db")
    app = create_app(WEB, HubServices(broken, hub.clock))
    from hub.api.metrics import HubCollector

    samples = {s.name: s.value for f in HubCollector(app.state.gridpass.services).collect() for s in f.samples}
    assert samples == {"gridpass_hub_database_up": 0}
