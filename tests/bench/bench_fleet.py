"""Fleet: thousands of terminals on one hub at once, next to a bare pipeline carrying the same traffic.

Run: ``python -m tests.bench.bench_fleet [--terminals 2000] [--minutes 3] [--workers 3] [--processes 4]`` (starts
its own mosquitto and throwaway PostgreSQL; writes only into a temporary directory; needs the source checkout).

Every terminal is enrolled for real: at the broker through dynamic security (``DynSecAdmin.enrol_device``: its own
user, password and ACLs) and at the hub (``hub.storage.devices.enrol``: its own Ed25519 public key), spread over
``SITES`` sites. The terminals run in ``--processes`` simulator processes (``tests.bench.fleet_sim``: hundreds of
paho clients per process on one selector), each connecting as itself, publishing a retained signed birth, then
recording 2-5 scan events every 20-30 s (jittered) and sending them as the terminal's outbox does (signed batches,
window 4, resends of what the hub names missing, everything again from the last ack after 30 s without one), timing
each batch of new events from its first publish to the ack that covers it.

Ours: ``--workers`` ``gridpass hub run`` processes in one share group on the PostgreSQL database; the first also
serves the operators' web app (``[web]``), whose site view (``/web/``) is fetched by a logged-in operator every
``PAGE_EVERY_S`` while the fleet runs. Half way through the run the last worker is SIGKILLed (``--no-kill`` to keep
it); the others take its share, the terminals resend what it took with it. Reference: the same connections and
schedule through the same broker with raw paho: JSON batches (no signature, no birth) to one bare paho subscriber
that does ``INSERT ... ON CONFLICT DO NOTHING`` into PostgreSQL (one transaction per batch) and publishes the ack.
The site page's reference is the same page fetched before the fleet connects (same database, idle hub).

Figures: ack latency p50/p99; hub CPU seconds and peak resident memory (``/proc``, all workers summed, the killed one
up to its death) next to the bare subscriber's; events stored (counted in PostgreSQL) next to events sent (exactly
once: the primary key forbids a duplicate, and every device's count must match what it sent); terminals connected;
the page time p50/p99. No figure is asserted here.

File descriptors: each connection is one socket in mosquitto and one in a simulator process; the bench raises its own
``RLIMIT_NOFILE`` soft limit to the hard limit before starting mosquitto (which inherits it) and the simulators (in
their ``preexec_fn``).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from psycopg import sql
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from hub.broker.dynsec import DynSecAdmin
from hub.broker.local import free_port
from hub.storage.devices import enrol
from hub.storage.engine import create_engine
from hub.storage.migrate import upgrade
from hub.storage.models import Event
from protocol.keys import Alg, generate_private_key, public_key_pem, spki_der
from protocol.topics import Stream
from tests.bench.fleet_sim import BATCH_RECORDS, MODE_RAW, MODE_SIGNED, WINDOW, SimSpec, SubscriberSpec, TerminalSpec
from tests.services.mosquitto import MosquittoBroker, start_broker
from tests.services.postgres import PostgresCluster, throwaway_cluster

REPO = Path(__file__).resolve().parents[2]
HUB_USER = "fleet-hub"
HUB_PASSWORD = "fleet-hub-pass"
OPERATOR = "fleet-operator"
OPERATOR_PASSWORD = "fleet-operator-password-1"
SITES = 10
INTERVAL_S = 25.0
JITTER_S = 5.0
"""A batch every 20-30 s per terminal."""
ACK_TIMEOUT_S = 30.0
"""A terminal resends a batch unacked this long (the terminal's default)."""
DRAIN_S = 120.0
"""After the run, how long the terminals may take to get everything acked."""
CONNECT_RATE_S = 200.0
"""New connections a second per simulator process."""
CONNECT_TIMEOUT_S = 240.0
PAGE_EVERY_S = 1.0
IDLE_PAGES = 20
"""Site-page fetches before the fleet connects: the page's reference."""
PAGE_TIMEOUT_S = 30.0
SAMPLE_EVERY_S = 0.5
WORKER_READY_S = 60.0
EXIT_WAIT_S = 30.0
CHILD_MARGIN_S = 60.0
"""Beyond its own phases, how long a simulator process may take before it is killed."""
MB = 1_000_000

Row = dict[str, float | str]


def _raise_nofile() -> None:
    """Soft ``RLIMIT_NOFILE`` up to the hard limit (inherited by the children started afterwards)."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def _ratio(ours: float, reference: float) -> float:
    return ours / reference if reference > 0 else float("nan")


def _wait(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not happen within {timeout_s:.0f} s")
        time.sleep(0.1)


# --- processes and /proc ----------------------------------------------------------------------------------------


@dataclass
class Usage:
    """CPU seconds and peak resident memory of one process, as last sampled."""

    cpu_s: float = 0.0
    peak_rss: int = 0

    def sample(self, pid: int) -> None:
        """Read ``/proc/<pid>``; a process that is gone keeps its last figures."""
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            status = Path(f"/proc/{pid}/status").read_text()
        except (OSError, IndexError):
            return
        ticks = os.sysconf("SC_CLK_TCK")
        self.cpu_s = (int(fields[11]) + int(fields[12])) / ticks  # utime, stime (fields 14, 15 of stat)
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                self.peak_rss = max(self.peak_rss, int(line.split()[1]) * 1024)


@dataclass
class Child:
    """A child process with its log, sampled for CPU and memory."""

    name: str
    process: subprocess.Popen[bytes]
    log_file: Path
    usage: Usage = field(default_factory=Usage)
    cpu_at_start: float = 0.0
    """CPU seconds when the fleet started (start-up, imports and migrations are not the fleet's load)."""

    def mark(self) -> None:
        """Sample now and count CPU from here on."""
        self.sample()
        self.cpu_at_start = self.usage.cpu_s

    @property
    def cpu_s(self) -> float:
        """CPU seconds since :meth:`mark`."""
        return self.usage.cpu_s - self.cpu_at_start

    def sample(self) -> None:
        """Refresh the usage figures while it runs."""
        if self.process.poll() is None:
            self.usage.sample(self.process.pid)

    def log(self) -> str:
        """Its log, tail."""
        try:
            return self.log_file.read_text(errors="replace")[-4000:]
        except OSError:
            return ""


class Children:
    """Every child of the run; whatever still runs at the end is killed and reaped."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.all: list[Child] = []

    def spawn(self, name: str, command: list[str]) -> Child:
        """Start ``command`` from the repository root, output to ``<name>.log``."""
        log_file = self.directory / f"{name}.log"
        with log_file.open("ab") as output:
            process = subprocess.Popen(
                command, cwd=REPO, stdin=subprocess.DEVNULL, stdout=output, stderr=output,
                env={**os.environ, "PYTHONUNBUFFERED": "1"}, preexec_fn=_raise_nofile,  # noqa: PLW1509 - no threads yet that matter
            )  # fmt: skip
        child = Child(name, process, log_file)
        self.all.append(child)
        return child

    def close(self) -> None:
        """SIGKILL and reap whatever still runs."""
        for child in self.all:
            if child.process.poll() is None:
                child.process.kill()
            child.process.wait(EXIT_WAIT_S)


def broker_drops(broker: MosquittoBroker) -> int:
    """How often mosquitto's log says it dropped messages for a client whose queue was full (max_queued_messages)."""
    return broker.log().count("Outgoing messages are being dropped")


def _terminate(child: Child) -> int:
    """SIGTERM, wait, SIGKILL if it hangs; the exit code."""
    if child.process.poll() is None:
        child.sample()
        child.process.send_signal(signal.SIGTERM)
        try:
            return child.process.wait(EXIT_WAIT_S)
        except subprocess.TimeoutExpired:
            child.process.kill()
    return child.process.wait(EXIT_WAIT_S)


# --- enrolment ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fleet:
    """The terminals' identities (one per terminal) and their sites."""

    terminals: list[TerminalSpec]
    sites: dict[str, str]


def _make_fleet(count: int) -> Fleet:
    terminals = []
    sites = {}
    for i in range(count):
        key = generate_private_key(Alg.EDDSA)
        assert isinstance(key, ed25519.Ed25519PrivateKey)
        raw = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                serialization.NoEncryption())  # fmt: skip
        device_id = f"fleet-{i:05d}"
        terminals.append(TerminalSpec(device_id, f"pw-{device_id}-{raw[:4].hex()}", raw.hex()))
        sites[device_id] = f"SH-FL-{i % SITES + 1}"
    return Fleet(terminals, sites)


def _enrol_broker(broker: MosquittoBroker, fleet: Fleet, progress: Progress) -> None:
    task = progress.add_task("enrolling at the broker (dynamic security)", total=len(fleet.terminals))
    with DynSecAdmin(broker.host, broker.port, broker.admin_user, broker.admin_password) as admin:
        admin.ensure_all()
        admin.create_hub_user(HUB_USER, HUB_PASSWORD)
        for terminal in fleet.terminals:
            admin.enrol_device(terminal.device_id, terminal.password)
            progress.advance(task)
    progress.remove_task(task)


def _enrol_hub(engine: sa.Engine, fleet: Fleet, progress: Progress) -> None:
    task = progress.add_task("enrolling at the hub", total=len(fleet.terminals))
    now = time.time()
    for terminal in fleet.terminals:
        key = ed25519.Ed25519PrivateKey.from_private_bytes(bytes.fromhex(terminal.key_hex))
        enrol(engine, terminal.device_id, spki_der(key.public_key()), profile="scanner", now=now,
              site=fleet.sites[terminal.device_id])  # fmt: skip
        progress.advance(task)
    progress.remove_task(task)


@dataclass(frozen=True)
class Rig:
    """What both pipelines run on."""

    children: Children
    broker: MosquittoBroker
    cluster: PostgresCluster
    fleet: Fleet
    progress: Progress


# --- simulators --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """Sizes and timing of one run."""

    terminals: int
    run_s: float
    workers: int
    processes: int
    kill: bool


@dataclass
class SimRun:
    """The simulator processes of one pipeline, their status and, at the end, their results."""

    children: list[Child]
    specs: list[SimSpec]

    def statuses(self) -> list[dict[str, Any]]:
        """Each process's last status (empty until written)."""
        found = []
        for spec in self.specs:
            try:
                found.append(json.loads(Path(spec.status_file).read_text()))
            except (OSError, ValueError):
                found.append({})
        return found

    def running(self) -> bool:
        """Every process has connected its terminals and runs its schedule (or is past it)."""
        return all(s.get("phase") in ("running", "draining", "done") for s in self.statuses())

    def connected(self) -> int:
        """Terminals connected now, over all processes."""
        return sum(int(s.get("connected", 0)) for s in self.statuses())

    def results(self) -> list[dict[str, Any]]:
        """What each process wrote at its end."""
        out = []
        for spec, child in zip(self.specs, self.children, strict=True):
            try:
                out.append(json.loads(Path(spec.result_file).read_text()))
            except (OSError, ValueError) as exc:
                raise RuntimeError(f"simulator {child.name} wrote no result:\n{child.log()}") from exc
        return out


def _start_sims(children: Children, broker: MosquittoBroker, fleet: Fleet, plan: Plan, mode: str) -> SimRun:
    shares = [fleet.terminals[i :: plan.processes] for i in range(plan.processes)]
    run = SimRun([], [])
    for index, share in enumerate(shares):
        if not share:
            continue
        name = f"sim-{mode}-{index}"
        spec = SimSpec(
            host=broker.host, port=broker.port, mode=mode, terminals=share, interval_s=INTERVAL_S, jitter_s=JITTER_S,
            run_s=plan.run_s, drain_s=DRAIN_S, ack_timeout_s=ACK_TIMEOUT_S, connect_rate_s=CONNECT_RATE_S,
            connect_timeout_s=CONNECT_TIMEOUT_S, status_file=str(children.directory / f"{name}.status.json"),
            result_file=str(children.directory / f"{name}.result.json"), seed=index + 1,
        )  # fmt: skip
        spec_file = children.directory / f"{name}.spec.json"
        spec.write(spec_file)
        run.specs.append(spec)
        run.children.append(children.spawn(name, [sys.executable, "-m", "tests.bench.fleet_sim", "terminals",
                                                  str(spec_file)]))  # fmt: skip
    return run


def _sims_budget_s(plan: Plan) -> float:
    return CONNECT_TIMEOUT_S + plan.run_s + DRAIN_S + CHILD_MARGIN_S


@dataclass
class Outcome:
    """What one pipeline measured."""

    latencies_ms: list[float]
    cpu_s: float
    peak_rss: int
    sent: int
    acked: int
    stored: int
    connected_max: int
    batches: int
    resent: int
    unacked_events: int
    mismatched_devices: int = 0
    page_ms: list[float] = field(default_factory=list)
    idle_page_ms: list[float] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _drive(sims: SimRun, plan: Plan, watched: list[Child], progress: Progress, *, label: str,
           on_tick: Callable[[float, float | None], None] | None = None) -> int:  # fmt: skip
    """Wait for the simulators to finish (bounded), sampling ``watched``; ``on_tick(now, running_since)``."""
    task = progress.add_task(f"{label}: connecting {plan.terminals} terminals", total=plan.terminals)
    deadline = time.monotonic() + _sims_budget_s(plan)
    running_since: float | None = None
    connected_max = 0
    try:
        while any(child.process.poll() is None for child in sims.children):
            now = time.monotonic()
            if now > deadline:
                raise TimeoutError(f"{label}: the simulators did not finish in {_sims_budget_s(plan):.0f} s")
            for child in watched:
                child.sample()
            connected = sims.connected()
            connected_max = max(connected_max, connected)
            if running_since is None and sims.running():
                running_since = now
            phase = "running" if running_since is not None else "connecting"
            progress.update(task, completed=connected, description=f"{label}: {phase}, connected")
            if on_tick is not None:
                on_tick(now, running_since)
            time.sleep(SAMPLE_EVERY_S)
    finally:
        progress.remove_task(task)
    failed = [child for child in sims.children if child.process.returncode != 0]
    if failed:
        raise RuntimeError(f"simulator {failed[0].name} exited with {failed[0].process.returncode}:\n{failed[0].log()}")
    return connected_max


def _totals(results: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "latencies_ms": [float(v) for r in results for v in r["latencies_ms"]],
        "sent": sum(int(r["sent_events"]) for r in results),
        "acked": sum(int(r["acked_events"]) for r in results),
        "batches": sum(int(r["batches"]) for r in results),
        "resent": sum(int(r["resent"]) for r in results),
        "unacked_events": sum(int(r["unacked_events"]) for r in results),
        "timeouts": sum(int(r["timeouts"]) for r in results),
        "disconnects": sum(int(r["disconnects"]) for r in results),
        "never_connected": sum(int(r["never_connected"]) for r in results),
        "per_device": {k: int(v) for r in results for k, v in r["per_device_sent"].items()},
    }


# --- the reference: raw paho and a bare INSERT subscriber ----------------------------------------------------------


@contextmanager
def _database(cluster: PostgresCluster, name: str) -> Iterator[str]:
    with cluster.superuser() as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} OWNER gridpass").format(sql.Identifier(name)))
    try:
        yield cluster.url(name)
    finally:
        with cluster.superuser() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _reference(rig: Rig, plan: Plan) -> Outcome:
    children, broker, cluster, fleet, progress = rig.children, rig.broker, rig.cluster, rig.fleet, rig.progress
    with _database(cluster, "fleet_reference") as url:
        dsn = url.replace("postgresql+psycopg://", "postgresql://")
        status_file = children.directory / "reference-hub.status.json"
        spec_file = children.directory / "reference-hub.spec.json"
        spec_file.write_text(json.dumps(SubscriberSpec(broker.host, broker.port, HUB_USER, HUB_PASSWORD, dsn,
                                                       str(status_file)).__dict__))  # fmt: skip
        hub = children.spawn("reference-hub", [sys.executable, "-m", "tests.bench.fleet_sim", "subscriber",
                                               str(spec_file)])  # fmt: skip
        try:
            _wait(lambda: status_file.exists() or hub.process.poll() is not None, WORKER_READY_S, "the bare subscriber")
            if hub.process.poll() is not None:
                raise RuntimeError(f"the bare subscriber exited:\n{hub.log()}")
            hub.mark()
            sims = _start_sims(children, broker, fleet, plan, MODE_RAW)
            connected_max = _drive(sims, plan, [hub], progress, label="reference (raw paho)")
        finally:
            _terminate(hub)
        totals = _totals(sims.results())
        engine = sa.create_engine(url)
        try:
            with engine.connect() as conn:
                stored = int(conn.execute(sa.text("SELECT COUNT(*) FROM bare_events")).scalar_one())
        finally:
            engine.dispose()
    return Outcome(totals["latencies_ms"], hub.cpu_s, hub.usage.peak_rss, totals["sent"], totals["acked"],
                   stored, connected_max, totals["batches"], totals["resent"], totals["unacked_events"])  # fmt: skip


# --- ours: gridpass hub run x N on PostgreSQL ------------------------------------------------------------------------


def _web_available() -> bool:
    try:
        from hub.app import serve_worker  # noqa: F401 - only whether it exists
    except ImportError:
        return False
    return True


def _hub_config(directory: Path, broker: MosquittoBroker, url: str, worker_id: str, web_port: int | None) -> Path:
    password_file = directory / "hub.pass"
    password_file.write_text(HUB_PASSWORD)
    root_file = directory / "root.pub.pem"
    if not root_file.exists():
        root_file.write_bytes(public_key_pem(generate_private_key(Alg.EDDSA).public_key()))
    lines = [
        "[database]", f"url = {json.dumps(url)}",
        "[broker]", f"host = {json.dumps(broker.host)}", f"port = {broker.port}", f"username = {json.dumps(HUB_USER)}",
        f"password_file = {json.dumps(str(password_file))}",
        "[worker]", f"id = {json.dumps(worker_id)}", 'share_group = "ingest"',
        "[lists]", f"root_key = {json.dumps(str(root_file))}",
    ]  # fmt: skip
    if web_port is not None:
        lines += ["[web]", 'host = "127.0.0.1"', f"port = {web_port}", "cookie_secure = false"]
    path = directory / f"{worker_id}.toml"
    path.write_text("\n".join([*lines, ""]))
    return path


def _gridpass() -> str:
    return str(Path(sys.executable).parent / "gridpass")


def _create_operator(directory: Path, config: Path) -> None:
    """The viewer account the page probe logs in as, made by the operators' own command."""
    password_file = directory / "operator.pass"
    password_file.write_text(OPERATOR_PASSWORD)
    made = subprocess.run(
        [_gridpass(), "hub", "user", "create", "--config", str(config), OPERATOR, "--role", "viewer",
         "--password-file", str(password_file)], cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    if made.returncode != 0:
        raise RuntimeError(f"gridpass hub user create failed: {made.stdout}{made.stderr}")


class PageProbe:
    """A logged-in operator fetching the site view, timed."""

    def __init__(self, port: int) -> None:
        self.client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=PAGE_TIMEOUT_S)
        self.failures = 0

    def login(self) -> None:
        """POST the login form; the session cookie stays in the client."""
        response = self.client.post("/web/login", data={"username": OPERATOR, "password": OPERATOR_PASSWORD,
                                                        "next": "/web/"})  # fmt: skip
        if response.status_code != 303:
            raise RuntimeError(f"the operator login failed: HTTP {response.status_code}")

    def fetch(self) -> float | None:
        """Milliseconds for the whole site page; None (and counted) if it failed."""
        started = time.perf_counter()
        try:
            response = self.client.get("/web/")
        except httpx.HTTPError:
            self.failures += 1
            return None
        if response.status_code != 200 or "<html" not in response.text[:500].lower():
            self.failures += 1
            return None
        return (time.perf_counter() - started) * 1000

    def close(self) -> None:
        """Close the connection pool."""
        self.client.close()


def _ours(rig: Rig, plan: Plan, *, web: bool) -> Outcome:
    children, broker, cluster, fleet, progress = rig.children, rig.broker, rig.cluster, rig.fleet, rig.progress
    url = cluster.url()
    drops_before = broker_drops(broker)
    engine = create_engine(url)
    try:
        upgrade(engine)
        _enrol_hub(engine, fleet, progress)
    finally:
        engine.dispose()
    web_port = free_port() if web else None
    configs = [_hub_config(children.directory, broker, url, f"hub-{i + 1}", web_port if i == 0 else None)
               for i in range(plan.workers)]  # fmt: skip
    probe: PageProbe | None = None
    outcome_notes: list[str] = []
    if web:
        _create_operator(children.directory, configs[0])
    workers = [children.spawn(f"hub-{i + 1}", [_gridpass(), "hub", "run", "--config", str(config)])
               for i, config in enumerate(configs)]  # fmt: skip
    try:
        task = progress.add_task(f"starting {plan.workers} hub workers", total=None)
        for worker in workers:
            _wait(lambda w=worker: f"hub worker {w.name} connected" in w.log() or w.process.poll() is not None,  # type: ignore[misc]
                  WORKER_READY_S, f"{worker.name}'s connection")  # fmt: skip
            if worker.process.poll() is not None:
                raise RuntimeError(f"{worker.name} exited:\n{worker.log()}")
        progress.remove_task(task)
        idle: list[float] = []
        if web_port is not None:
            probe = PageProbe(web_port)
            _wait(lambda: "serving the hub's web app" in workers[0].log(), WORKER_READY_S, "the web app")
            probe.login()
            idle = [ms for _ in range(IDLE_PAGES) if (ms := probe.fetch()) is not None]
        pages: list[float] = []
        state = {"next_page": 0.0, "killed": False}
        victim = workers[-1] if plan.kill and plan.workers > 1 else None

        def tick(now: float, running_since: float | None) -> None:
            if probe is not None and running_since is not None and now >= state["next_page"]:
                state["next_page"] = now + PAGE_EVERY_S
                if (ms := probe.fetch()) is not None:
                    pages.append(ms)
            if victim is not None and not state["killed"] and running_since is not None \
                    and now - running_since >= plan.run_s / 2:  # fmt: skip
                victim.sample()
                victim.process.kill()
                victim.process.wait(EXIT_WAIT_S)
                state["killed"] = True
                outcome_notes.append(f"{victim.name} SIGKILLed {now - running_since:.0f} s into the run")

        for worker in workers:
            worker.mark()
        sims = _start_sims(children, broker, fleet, plan, MODE_SIGNED)
        connected_max = _drive(sims, plan, workers, progress, label="ours (gridpass hub run)", on_tick=tick)
        for worker in workers:
            worker.sample()
    finally:
        if probe is not None:
            probe.close()
        codes = [_terminate(worker) for worker in workers]
    if any(code != 0 for worker, code in zip(workers, codes, strict=True) if worker is not victim):
        outcome_notes.append(f"worker exit codes {codes}")
    totals = _totals(sims.results())
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            result = conn.execute(
                sa.select(Event.device_id, sa.func.count()).where(Event.stream == Stream.EVENTS.value)
                .group_by(Event.device_id)
            )  # fmt: skip
            per_device = {str(row[0]): int(row[1]) for row in result}
    finally:
        engine.dispose()
    stored = sum(int(n) for n in per_device.values())
    mismatched = sum(int(per_device.get(device, 0)) != sent for device, sent in totals["per_device"].items())
    if probe is not None and probe.failures:
        outcome_notes.append(f"{probe.failures} page fetches failed")
    outcome_notes.append(f"the broker reported dropping messages {broker_drops(broker) - drops_before} times")
    return Outcome(
        totals["latencies_ms"], sum(w.cpu_s for w in workers), sum(w.usage.peak_rss for w in workers),
        totals["sent"], totals["acked"], stored, connected_max, totals["batches"], totals["resent"],
        totals["unacked_events"], mismatched, pages, idle, outcome_notes,
    )  # fmt: skip


# --- rows ----------------------------------------------------------------------------------------------------------


def _row(figure: str, case: str, ours: float, reference: float, unit: str, reference_name: str, notes: str) -> Row:  # noqa: PLR0917 - one table row
    return {"figure": figure, "case": case, "ours": ours, "reference": reference, "unit": unit,
            "reference_name": reference_name, "ratio": _ratio(ours, reference), "notes": notes}  # fmt: skip


def rows_of(ours: Outcome, reference: Outcome | None, plan: Plan) -> list[Row]:
    """The figures, each next to its reference."""
    case = f"{plan.terminals} terminals, {plan.run_s / 60:g} min, {plan.workers} workers"
    ref = reference or Outcome([], float("nan"), 0, 0, 0, 0, 0, 0, 0, 0)
    raw = "raw paho + bare INSERT subscriber"
    kill = "; ".join(ours.notes)
    rows = [
        _row("ack latency p50", case, statistics.median(ours.latencies_ms) if ours.latencies_ms else float("nan"),
             statistics.median(ref.latencies_ms) if ref.latencies_ms else float("nan"), "ms", raw,
             f"{len(ours.latencies_ms)} batches of new events acked; {ours.batches} published, {ours.resent} of them "
             f"resends; reference {len(ref.latencies_ms)}"),
        _row("ack latency p99", case, _percentile(ours.latencies_ms, 0.99), _percentile(ref.latencies_ms, 0.99), "ms",
             raw, f"from a batch's first publish to the ack covering it; {kill}"),
        _row("hub CPU", case, ours.cpu_s, ref.cpu_s, "CPU s", raw,
             f"from the fleet's start: all {plan.workers} workers summed (the killed one until its death) vs the "
             "one bare subscriber"),
        _row("hub memory", case, ours.peak_rss / MB, ref.peak_rss / MB, "MB peak RSS", raw,
             f"sum over {plan.workers} worker processes vs one subscriber process"),
        _row("events stored", case, float(ours.stored), float(ours.sent), "events", "events sent",
             f"counted in PostgreSQL; devices whose count differs from what they sent: {ours.mismatched_devices}; "
             f"acked {ours.acked}; unacked events at the end {ours.unacked_events}; reference stored "
             f"{ref.stored}/{ref.sent}"),
        _row("connected", case, float(ours.connected_max), float(plan.terminals), "terminals", "terminals started",
             f"most connected at once (reference: {ref.connected_max})"),
    ]  # fmt: skip
    if ours.page_ms:
        rows += [
            _row("site page p50", case, statistics.median(ours.page_ms), statistics.median(ours.idle_page_ms), "ms",
                 "same page, idle hub", f"{len(ours.page_ms)} fetches during the run, {len(ours.idle_page_ms)} idle"),
            _row("site page p99", case, _percentile(ours.page_ms, 0.99), _percentile(ours.idle_page_ms, 0.99), "ms",
                 "same page, idle hub", f"/web/ as a logged-in viewer, {plan.terminals} devices on {SITES} sites"),
        ]  # fmt: skip
    return rows


def main(argv: list[str] | None = None) -> list[Row]:
    """Run the benchmark; returns the rows it printed."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--terminals", type=int, default=2000, help="Simulated terminals (default 2000).")
    parser.add_argument("--minutes", type=float, default=3.0, help="Run time of each pipeline (default 3).")
    parser.add_argument("--workers", type=int, default=3, help="gridpass hub run processes (default 3).")
    parser.add_argument("--processes", type=int, default=4, help="Simulator processes (default 4).")
    parser.add_argument("--no-kill", action="store_true", help="Do not SIGKILL a worker half way.")
    parser.add_argument("--no-reference", action="store_true", help="Skip the raw paho reference run.")
    parser.add_argument("--no-web", action="store_true", help="Do not serve or time the dashboard.")
    args = parser.parse_args(argv)
    plan = Plan(max(1, args.terminals), max(1.0, args.minutes * 60), max(1, args.workers),
                max(1, min(args.processes, args.terminals)), not args.no_kill)  # fmt: skip
    web = not args.no_web and _web_available()
    console = Console(width=160)
    _raise_nofile()
    with ExitStack() as stack:
        directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="gridpass-bench-fleet-")))
        progress = stack.enter_context(
            Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                     console=console, transient=True)
        )  # fmt: skip
        task = progress.add_task("starting mosquitto and PostgreSQL, making keys", total=None)
        broker = start_broker(directory / "mosquitto")
        stack.callback(broker.stop)
        cluster = stack.enter_context(throwaway_cluster())
        fleet = _make_fleet(plan.terminals)
        progress.remove_task(task)
        _enrol_broker(broker, fleet, progress)
        children = Children(directory)
        stack.callback(children.close)
        rig = Rig(children, broker, cluster, fleet, progress)
        reference = None if args.no_reference else _reference(rig, plan)
        ours = _ours(rig, plan, web=web)
    rows = rows_of(ours, reference, plan)
    table = Table(title=f"fleet: {plan.terminals} terminals on one hub (no figure is asserted)")
    for column in ("figure", "case", "ours", "reference", "unit", "ours/ref", "reference is", "notes"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(str(row["figure"]), str(row["case"]), f"{float(row['ours']):,.1f}",
                      f"{float(row['reference']):,.1f}", str(row["unit"]), f"{float(row['ratio']):.2f}x",
                      str(row["reference_name"]), str(row["notes"]))  # fmt: skip
    console.print(table)
    console.print(
        f"Terminals: 2-5 scan events every {INTERVAL_S - JITTER_S:g}-{INTERVAL_S + JITTER_S:g} s, sent as the outbox "
        f"sends them (window {WINDOW}, up to {BATCH_RECORDS} a batch, ranges an ack names missing again, everything "
        f"from the last ack after {ACK_TIMEOUT_S:g} s without one); {plan.processes} simulator processes; "
        f"RLIMIT_NOFILE raised to the hard limit ({resource.getrlimit(resource.RLIMIT_NOFILE)[1]}) for mosquitto "
        "and the simulators."
    )
    return rows


if __name__ == "__main__":
    logging.basicConfig(level=logging.ERROR)
    main()
