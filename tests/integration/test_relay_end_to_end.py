"""A terminal, a real mosquitto, ``gridpass hub run`` with a ``[district]`` section, and the district center: what
the terminal decided while the district was down reaches the district once, in order, under the device's own
signature; the district's lists reach the hub."""

from __future__ import annotations

from pathlib import Path

import pytest

from district.server.store import DistrictStore, create_engine
from hub.storage.lists import current_revocation, current_trust_list
from protocol.envelope import open_batch
from tests.district.server.support import LIST_ID, TOKEN, make_district, serving
from tests.integration.rig import ROOT, Children, HubProcess, Site, Terminal, exactly_once, wait_for
from tests.services.mosquitto import HOST, free_port

DEVICE = "scanner-01"
BACKLOG = 400
SYNC = {"batch_records": 50, "window": 4, "ack_timeout_s": 2.0, "rate_messages_s": 50.0}
RELAY_WAIT_S = 60.0
"""The relay backs off while the district is down (capped, jittered): give it time to notice the district is up."""


@pytest.mark.timeout(300)
def test_reports_made_while_the_district_is_down_reach_it_once_in_order(
    site: Site, children: Children, tmp_path: Path
) -> None:
    district = make_district(tmp_path / "district", ROOT)  # the root key the hub was given
    token_file = tmp_path / "district.token"
    token_file.write_text(TOKEN)
    identity = site.enrol(DEVICE)
    terminal = Terminal(site, identity, tmp_path / "terminals", children, SYNC)
    terminal.prefill(BACKLOG)
    port = free_port()  # nothing listens there yet: the district is down
    hub = HubProcess(site, "hub-1", tmp_path, children)
    with hub.config_file.open("a") as config:
        config.write(
            f'[district]\nurl = "http://{HOST}:{port}"\ntoken_file = "{token_file}"\npull_interval_s = 5\n'
            "connect_timeout_s = 1\nread_timeout_s = 5\ntotal_timeout_s = 10\n"
        )
    hub.start()
    terminal.start()
    try:
        wait_for(lambda: terminal.counts().backlog == 0, f"terminal drained\n{terminal.log()}\n{hub.log()}")
        exactly_once(site.engine, DEVICE, BACKLOG)
        district.sign_trust_list(1)
        district.revoke(b"\x07" * 16)
        with serving(district.settings, port=port):
            store = DistrictStore(create_engine(district.settings.data_dir))
            try:
                wait_for(
                    lambda: store.counts()["records"] == BACKLOG, f"district has everything\n{hub.log()}", RELAY_WAIT_S
                )
                arrivals = store.arrivals(DEVICE)
                seqs = [s for batch in arrivals for s in range(batch.first_seq, batch.last_seq + 1)]
                assert seqs == list(range(1, BACKLOG + 1))
                for batch in arrivals:
                    open_batch(batch.cose, identity.public_key, device=DEVICE)
                assert store.record_seqs(DEVICE, "events") == list(range(1, BACKLOG + 1))
            finally:
                store.engine.dispose()
            wait_for(
                lambda: (
                    current_trust_list(site.engine) is not None and current_revocation(site.engine, LIST_ID) is not None
                ),
                f"the hub pulled the lists\n{hub.log()}",
                RELAY_WAIT_S,
            )
    finally:
        terminal.stop()
        hub.stop()
