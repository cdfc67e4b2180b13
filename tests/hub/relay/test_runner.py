"""The relay as a hub worker runs it: built from the ``[district]`` section, on its own thread, in real time."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from district.server.store import DistrictStore, create_engine
from hub.config import HubConfigError, validate
from hub.relay.client import DistrictError
from hub.relay.runner import build_relay
from hub.storage import relay
from tests.district.server.support import T0, TOKEN, District, serving
from tests.hub.relay.support import Terminal, accept_into, wait_until


def section(url: str, token_file: Path, **extra: object) -> dict[str, object]:
    return {"url": url, "token_file": str(token_file), "pull_interval_s": 5, **extra}


def hub_config(district: dict[str, object]) -> dict[str, object]:
    return {
        "database": {"url": "sqlite:///hub.db"},
        "broker": {"password_file": "hub.pass"},
        "lists": {"root_key": "root.pub.pem"},
        "district": district,
    }


def test_a_worker_s_relay_delivers_in_real_time_and_stops_cleanly(
    sqlite_hub: Engine, district: District, tmp_path: Path
) -> None:
    token_file = tmp_path / "district.token"
    token_file.write_text(TOKEN + "\n")
    district.sign_trust_list(1)
    terminal = Terminal(sqlite_hub, "scanner-01").enrol(time.time())
    terminal.report(3, time.time())  # the runner relays on the real clock
    with serving(district.settings) as url:
        config = validate(hub_config(section(url, token_file)))
        assert config.district is not None
        runner = build_relay(
            config.district, sqlite_hub, accept_into(sqlite_hub, district.root.public_key(), lambda: T0), holder="w1"
        )
        runner.start()
        try:
            wait_until(lambda: relay.relay_stats(sqlite_hub, now=T0).delivered == 1, "the batch is delivered")
            wait_until(lambda: runner.service.counters["lists_accepted"] == 1, "the trust list is pulled")
        finally:
            runner.stop()
        store = DistrictStore(create_engine(district.settings.data_dir))
        assert store.record_seqs("scanner-01", "events") == [1, 2, 3]
        store.engine.dispose()
    assert relay.acquire_lease(sqlite_hub, "w2", now=T0, ttl_s=30)  # the stopped relay handed its lease over


@pytest.mark.parametrize(
    ("district", "key"),
    [
        ({"url": "ftp://x", "token_file": "t"}, "district.url"),
        ({"url": "https://x"}, "district.token_file"),
        ({"url": "https://x", "token_file": "t", "pull_interval_s": 0}, "district.pull_interval_s"),
        ({"url": "https://x", "token_file": "t", "proxy": "y"}, "district.proxy"),
    ],
)
def test_a_bad_district_section_is_named_by_key(district: dict[str, object], key: str) -> None:
    with pytest.raises(HubConfigError) as caught:
        validate(hub_config(district))
    assert key in [path for path, _ in caught.value.problems]


def test_a_missing_token_or_ca_file_stops_the_worker_at_start(sqlite_hub: Engine, tmp_path: Path) -> None:
    config = validate(hub_config(section("https://127.0.0.1:1", tmp_path / "missing")))
    assert config.district is not None
    with pytest.raises(DistrictError, match="token"):
        build_relay(config.district, sqlite_hub, lambda _: "", holder="w1")
    (tmp_path / "token").write_text("t")
    config = validate(hub_config(section("https://127.0.0.1:1", tmp_path / "token", ca_file=str(tmp_path / "no.pem"))))
    assert config.district is not None
    with pytest.raises(DistrictError, match="CA"):
        build_relay(config.district, sqlite_hub, lambda _: "", holder="w1")
