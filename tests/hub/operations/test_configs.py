"""The push operation: signed for the device under the delegation, audited, published retained when a publisher
is there, refused with a reason (no signer, bad settings, unknown device) and audited as refused."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from hub.accounts.roles import Role
from hub.config_signer import ConfigSigner, ConfigSignerError
from hub.operations.audit import Actor, entries
from hub.operations.configs import current_config, history, push_config
from hub.operations.errors import InvalidInputError, NotFoundError
from hub.storage.engine import create_engine
from hub.storage.migrate import upgrade
from protocol import topics
from protocol.device_config import make_delegation, open_device_config
from protocol.keys import Alg, generate_private_key, private_key_pem
from tests.hub.storage.support import T0, enrol

ROOT = generate_private_key(Alg.EDDSA)
HUB_KEY = generate_private_key(Alg.EDDSA)
ACTOR = Actor("ann", Role.OPERATOR, "127.0.0.1")


@pytest.fixture
def config_engine(hub_db_url: str) -> Iterator[Engine]:
    """A migrated hub database (SQLite and PostgreSQL)."""
    engine = create_engine(hub_db_url)
    upgrade(engine)
    yield engine
    engine.dispose()


class Publisher:
    def __init__(self, *, up: bool = True) -> None:
        self.up = up
        self.sent: list[tuple[str, bytes, bool]] = []

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> bool:
        if self.up:
            self.sent.append((topic, payload, retain))
        return self.up


def signer(tmp_path: Path, *, key: object = HUB_KEY, exp: int = int(T0) + 86400) -> ConfigSigner:
    (tmp_path / "hub.key.pem").write_bytes(private_key_pem(key))  # type: ignore[arg-type]
    delegation = make_delegation(ROOT, "hub-1", HUB_KEY.public_key(), nbf=int(T0) - 60, exp=exp)
    (tmp_path / "delegation.cose").write_bytes(delegation)
    return ConfigSigner.load(tmp_path / "hub.key.pem", tmp_path / "delegation.cose", ROOT.public_key(), now=T0)


def test_a_push_is_signed_kept_audited_and_published_retained(config_engine: Engine, tmp_path: Path) -> None:
    enrol(config_engine, "scanner-01")
    publisher = Publisher()
    settings = {"scan": {"hold_off_s": 4.5}}
    result = push_config(config_engine, publisher, signer(tmp_path), ACTOR, "scanner-01", settings=settings, now=T0)
    assert result.published
    assert result.config.version == 1
    [(topic, payload, retain)] = publisher.sent
    assert topic == topics.down("scanner-01", topics.Down.CONFIG)
    assert retain
    doc = open_device_config(payload, ROOT.public_key(), device="scanner-01")
    assert (doc.version, doc.settings, doc.hub) == (1, settings, "hub-1")
    held = current_config(config_engine, "scanner-01")
    assert held is not None
    assert held.published_at == T0
    [row] = entries(config_engine, action="config.push")
    assert (row.actor, row.target, row.outcome.value) == ("ann", "scanner-01", "ok")


def test_a_push_while_the_broker_is_away_is_kept_unpublished(config_engine: Engine, tmp_path: Path) -> None:
    enrol(config_engine, "scanner-01")
    result = push_config(config_engine, Publisher(up=False), signer(tmp_path), ACTOR, "scanner-01", settings={}, now=T0)
    assert not result.published
    assert [c.published_at for c in history(config_engine, "scanner-01")] == [None]


def test_refusals_say_why_and_are_audited(config_engine: Engine, tmp_path: Path) -> None:
    enrol(config_engine, "scanner-01")
    with pytest.raises(InvalidInputError, match="config_push"):
        push_config(config_engine, None, None, ACTOR, "scanner-01", settings={}, now=T0)
    with pytest.raises(InvalidInputError, match="settings"):
        push_config(
            config_engine, None, signer(tmp_path), ACTOR, "scanner-01", settings={"scan": {"x": {"y": 1}}}, now=T0
        )
    with pytest.raises(NotFoundError):
        push_config(config_engine, None, signer(tmp_path), ACTOR, "nobody", settings={}, now=T0)
    assert [row.outcome.value for row in entries(config_engine, action="config.push")] == ["refused"] * 3
    with pytest.raises(NotFoundError):
        current_config(config_engine, "nobody")


def test_the_signer_checks_its_delegation_at_load(tmp_path: Path) -> None:
    with pytest.raises(ConfigSignerError, match="another key"):
        signer(tmp_path, key=generate_private_key(Alg.EDDSA))
    with pytest.raises(ConfigSignerError, match="not valid now"):
        signer(tmp_path, exp=int(T0) - 1)
    (tmp_path / "delegation.cose").write_bytes(b"garbage")
    with pytest.raises(ConfigSignerError, match="gridpass district delegate"):
        ConfigSigner.load(tmp_path / "hub.key.pem", tmp_path / "delegation.cose", ROOT.public_key(), now=T0)
