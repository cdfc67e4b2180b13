"""A configuration pushed from the hub reaches a running terminal through the real broker: the terminal verifies it
through the district's delegation, restarts into it, and its answer is kept beside the version at the hub; a push
it must refuse (a key the hub may not set) is answered as refused and changes nothing."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from hub.accounts.roles import Role
from hub.config_signer import ConfigSigner
from hub.operations.audit import Actor
from hub.operations.configs import push_config
from hub.storage.configs import latest_config
from hub.storage.models import DeviceBoot
from protocol.device_config import make_delegation
from protocol.keys import Alg, generate_private_key, private_key_pem
from tests.integration.rig import ROOT, Children, InProcessHub, Site, Terminal, wait_for

DEVICE = "scanner-31"
ACTOR = Actor("ann", Role.OPERATOR, "127.0.0.1")


def signer(directory: Path) -> ConfigSigner:
    key = generate_private_key(Alg.EDDSA)
    (directory / "hub-config.key.pem").write_bytes(private_key_pem(key))
    (directory / "delegation.cose").write_bytes(make_delegation(ROOT, "hub-1", key.public_key(), nbf=0, exp=2**40))
    return ConfigSigner.load(
        directory / "hub-config.key.pem", directory / "delegation.cose", ROOT.public_key(), now=1_800_000_000
    )


def boots(site: Site) -> int:
    with site.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).where(DeviceBoot.device_id == DEVICE)).scalar_one())


def test_a_pushed_config_is_taken_and_a_forbidden_one_refused(site: Site, children: Children, tmp_path: Path) -> None:
    identity = site.enrol(DEVICE)
    terminal = Terminal(site, identity, tmp_path, children, {})
    hub = InProcessHub(site).start()
    try:
        terminal.start()
        wait_for(lambda: boots(site) == 1, "the terminal's first birth", timeout_s=60)
        assert hub.link is not None
        keys = signer(tmp_path)
        pushed = push_config(
            site.engine, hub.link, keys, ACTOR, DEVICE, settings={"scan": {"hold_off_s": 4.0}}, now=1_800_000_000
        )
        assert pushed.published

        def answered(version: int) -> bool:
            latest = latest_config(site.engine, DEVICE)
            return latest is not None and latest.version == version and latest.answer_ok is not None

        wait_for(lambda: answered(1), "the terminal's answer to version 1")
        latest = latest_config(site.engine, DEVICE)
        assert latest is not None
        assert latest.answer_ok, latest.answer_detail
        wait_for(lambda: boots(site) == 2, "the terminal restarted into the new configuration")
        assert (terminal.data_dir / "pushed-config.cbor").exists()

        forbidden = {"lists": {"list_id": "X"}}
        push_config(site.engine, hub.link, keys, ACTOR, DEVICE, settings=forbidden, now=1_800_000_000)
        wait_for(lambda: answered(2), "the terminal's answer to version 2")
        refused = latest_config(site.engine, DEVICE)
        assert refused is not None
        assert refused.answer_ok is False
        assert refused.answer_detail is not None
        assert "not_pushable" in refused.answer_detail
        assert boots(site) == 2
        terminal.stop()
    finally:
        hub.stop()
