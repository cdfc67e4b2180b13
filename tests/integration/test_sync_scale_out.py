"""Three hub workers (one MQTT 5 share group, distinct worker ids) on one PostgreSQL split the terminals' batches;
one of them is killed mid-drain and never comes back; every event is stored exactly once at the end."""

from __future__ import annotations

from pathlib import Path

from tests.integration.rig import Children, HubProcess, Site, Terminal, exactly_once, progress, wait_for

TERMINALS = ("scanner-01", "scanner-02")
BACKLOG = 1500
"""Events per terminal."""
SYNC = {"batch_records": 40, "window": 4, "ack_timeout_s": 2.0, "rate_messages_s": 25.0}


def test_three_workers_on_postgresql_one_killed_mid_drain_store_every_event_once(
    pg_site: Site, children: Children, tmp_path: Path
) -> None:
    site = pg_site
    workers = [HubProcess(site, f"hub-{n}", tmp_path, children) for n in (1, 2, 3)]
    terminals = [Terminal(site, site.enrol(dev), tmp_path / "terminals", children, SYNC) for dev in TERMINALS]
    for terminal in terminals:
        terminal.prefill(BACKLOG)
    for worker in workers:
        worker.start()
    for worker in workers:
        wait_for(lambda w=worker: w.connects() >= 1, f"{worker.worker_id} connected")  # type: ignore[misc]
    for terminal in terminals:
        terminal.start()

    def stored() -> int:
        return sum(progress(site.engine, dev).contiguous_upto for dev in TERMINALS)

    wait_for(lambda: stored() >= len(TERMINALS) * BACKLOG // 3, "a third stored")
    workers[1].kill()
    at_kill = stored()
    for terminal in terminals:
        wait_for(lambda t=terminal: t.counts().backlog == 0, f"{terminal.identity.device_id} drained")  # type: ignore[misc]
    for terminal in terminals:
        terminal.stop()
    for worker in (workers[0], workers[2]):
        worker.stop()

    for terminal in terminals:
        end = terminal.counts()
        assert (end.recorded, end.acked_upto, end.backlog) == (BACKLOG, BACKLOG, 0)
        exactly_once(site.engine, terminal.identity.device_id, BACKLOG)
    print(f"hub-2 killed at {at_kill} of {len(TERMINALS) * BACKLOG} stored")
