"""``gridpass drill``: a seeded schedule of faults against a running district, then the count at the district.

Faults: ``kill -9`` of a terminal, of the hub and of the broker; a network cut (the broker stops, its persistence
kept); the district center down; a terminal's disk filling up (its data directory on a small tmpfs filled with a
ballast file; needs root to mount, skipped with a line otherwise). While the faults play, the terminals keep deciding.
At the end everything is brought back, the terminals stop cleanly, and the drill counts, at the district center,
every event the terminals committed: lost 0, doubled 0, one line per fault injected.
"""

from __future__ import annotations

import os
import random
import subprocess
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from demo import counts
from demo.people import make_district
from demo.processes import wait_until
from demo.site import SITES, Site, new_site
from demo.summary import RunFacts, summary_json, summary_lines

FAULT_KINDS = ("kill_terminal", "kill_hub", "kill_broker", "cut_network", "district_down", "disk_full")
SETTLE_S = 180.0
TMPFS_BYTES = 64 * 2**20
"""A terminal data directory on a tmpfs of its own: room for a long drill's store, lists and WAL, and quick to fill."""
DISK_TERMINAL = "scanner-02"
SUPERVISE_S = 1.0
"""How often exited terminals are started again (systemd's RestartSec)."""


@dataclass(frozen=True, slots=True)
class Fault:
    """One fault: what, against whom, when (seconds into the drill) and for how long."""

    at_s: float
    kind: str
    target: str
    duration_s: float


def schedule(rng: random.Random, *, faults: int, span_s: float, terminals: list[str]) -> list[Fault]:
    """A seeded schedule: faults spread over ``span_s``, every kind at least once when there are enough."""
    kinds = list(FAULT_KINDS)[:faults] + [rng.choice(FAULT_KINDS) for _ in range(max(0, faults - len(FAULT_KINDS)))]
    rng.shuffle(kinds)
    step = span_s / max(1, faults)
    plan = []
    for index, kind in enumerate(kinds):
        target = {
            "kill_terminal": rng.choice(terminals),
            "disk_full": DISK_TERMINAL,
            "kill_hub": "hub",
            "district_down": "district-center",
        }.get(kind, "broker")
        plan.append(Fault(index * step + rng.uniform(0, step / 3), kind, target, rng.uniform(2.0, min(8.0, step / 2))))
    return plan


class DiskFiller:
    """A small tmpfs under one terminal's data directory, and a ballast file that fills it."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.mounted = False
        self.ballast = data_dir / "ballast"

    def mount(self) -> str | None:
        """Mount the tmpfs (before the terminal first starts); None when done, else why not."""
        if os.geteuid() != 0:
            return "needs root to mount a tmpfs"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(  # noqa: S603
            ["/bin/mount", "-t", "tmpfs", "-o", f"size={TMPFS_BYTES}", "tmpfs", str(self.data_dir)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            return f"mount failed: {done.stderr.strip()}"
        self.mounted = True
        return None

    def fill(self) -> None:
        """Write the ballast until the disk is full (a disk already full is fine too)."""
        try:
            with self.ballast.open("ab") as out:
                while True:
                    out.write(b"\0" * 65536)
                    out.flush()
        except OSError:
            return

    def free(self) -> None:
        """Remove the ballast."""
        self.ballast.unlink(missing_ok=True)

    def unmount(self) -> None:
        """Unmount (after the terminal stopped and its store was read)."""
        if self.mounted:
            subprocess.run(["/bin/umount", "-l", str(self.data_dir)], check=False, capture_output=True)  # noqa: S603
            self.mounted = False


class Drill:
    """One drill run."""

    def __init__(self, directory: Path, *, seed: int, faults: int, span_s: float, console: Console) -> None:
        self.directory = directory
        self.seed = seed
        self.rng = random.Random(seed)  # noqa: S311 - seeded on purpose: a drill is repeated with its seed
        self.faults = faults
        self.span_s = span_s
        self.console = console
        self.lines: list[str] = []
        self.plan: list[Fault] = []
        self.restarts: list[str] = []
        """Terminals that exited by themselves (e.g. no space for their store at start) and were started again."""

    def run(self, stop: threading.Event) -> dict[str, Any]:
        """Set up, play the schedule, restore, count."""
        district = make_district(self.directory / "district", self.rng, int(time.time()))
        site = new_site(self.directory, district, self.rng)
        filler: DiskFiller | None = None
        try:
            site.start_broker()
            site.start_district_center()
            site.write_hub_config(district_pull_s=10.0)
            site.create_operator()
            site.start_hub()
            for number in range(1, 5):
                site.provision(f"scanner-{number:02d}", "scanner", SITES[(number - 1) // 2], "", people=12)
            filler = DiskFiller(site.terminals[DISK_TERMINAL].directory / "data")
            why_not = filler.mount()
            for device_id in site.terminals:
                site.start_terminal(device_id)
            plan = self.plan = schedule(
                self.rng, faults=self.faults, span_s=self.span_s, terminals=sorted(site.terminals)
            )
            self._play(site, plan, filler if why_not is None else None, why_not, stop)
            return self._finish(site, len(plan))
        finally:
            site.close()
            if filler is not None:
                filler.unmount()

    def _play(
        self, site: Site, plan: list[Fault], filler: DiskFiller | None, why_not: str | None, stop: threading.Event
    ) -> None:
        started = time.monotonic()
        columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
        with Progress(*columns, console=self.console) as progress:
            task = progress.add_task(f"drill: {len(plan)} faults", total=len(plan))
            for fault in plan:
                while (left := started + fault.at_s - time.monotonic()) > 0:
                    if stop.wait(min(left, SUPERVISE_S)):
                        raise KeyboardInterrupt
                    self._supervise(site)
                progress.update(task, description=f"{fault.kind} {fault.target}")
                self.lines.append(self._inject(site, fault, filler, why_not, stop))
                progress.advance(task)

    def _supervise(self, site: Site) -> None:
        """What systemd does for a terminal unit (``Restart=on-failure``): start again a terminal that exited."""
        for device_id, terminal in site.terminals.items():
            child = terminal.child
            if child.process is not None and child.process.poll() not in (None, 0):
                code = child.process.returncode
                child.start()
                self.restarts.append(f"supervisor restarted {device_id} (it exited with {code})")

    def _inject(
        self, site: Site, fault: Fault, filler: DiskFiller | None, why_not: str | None, stop: threading.Event
    ) -> str:
        at = f"t+{fault.at_s:5.1f}s"
        if fault.kind == "kill_terminal":
            child = site.terminals[fault.target].child
            child.kill()
            stop.wait(fault.duration_s)
            child.start()
            return f"{at} kill -9 {fault.target}, restarted after {fault.duration_s:.1f} s"
        if fault.kind == "kill_hub":
            assert site.hub is not None  # noqa: S101
            site.hub.kill()
            stop.wait(fault.duration_s)
            site.start_hub()
            return f"{at} kill -9 hub, restarted after {fault.duration_s:.1f} s"
        if fault.kind == "kill_broker":
            assert site.broker is not None  # noqa: S101
            site.broker.kill()
            stop.wait(fault.duration_s)
            site.broker.start()
            return f"{at} kill -9 broker (unsaved sessions lost), restarted after {fault.duration_s:.1f} s"
        if fault.kind == "cut_network":
            site.cut_network()
            stop.wait(fault.duration_s)
            site.restore_network()
            return f"{at} network cut for {fault.duration_s:.1f} s"
        if fault.kind == "district_down":
            assert site.center is not None  # noqa: S101
            site.center.stop()
            stop.wait(fault.duration_s)
            site.center.start()
            return f"{at} district center down for {fault.duration_s:.1f} s"
        if filler is None:
            return f"{at} disk full on {fault.target}: skipped ({why_not})"
        filler.fill()
        stop.wait(fault.duration_s)
        filler.free()
        return f"{at} disk full on {fault.target} for {fault.duration_s:.1f} s"

    def _finish(self, site: Site, injected: int) -> dict[str, Any]:
        for terminal in site.terminals.values():
            if not terminal.child.running:
                terminal.child.start()
        # what was decided until now reaches the hub first; then a clean stop drains the last few seconds
        decided = {d: len(counts.read_terminal(d, t.database).seqs) for d, t in site.terminals.items()}
        wait_until(lambda: site.hub_holds(decided), SETTLE_S, poll_s=1.0)
        for terminal in site.terminals.values():
            terminal.child.stop()
        tallies = [counts.read_terminal(d, t.database) for d, t in site.terminals.items()]
        at_terminals = counts.at_terminals(tallies)

        def everything_at_district() -> bool:
            try:
                return counts.at_district(site.district_url, site.district_token).distinct >= at_terminals.distinct
            except httpx.HTTPError:
                return False

        wait_until(everything_at_district, SETTLE_S, poll_s=1.0)
        decisions: Counter[str] = Counter()
        for tally in tallies:
            decisions.update(tally.decisions)
        facts = RunFacts(
            seed=self.seed, terminals=len(site.terminals), decisions=decisions, reasons=Counter(),
            at_terminals=at_terminals, at_hub=counts.at_hub(f"sqlite:///{site.hub_db}"),
            at_district=counts.at_district(site.district_url, site.district_token), faults=injected,
            extra={
                "fault_log": self.lines,
                "fault_kinds": dict(Counter(fault.kind for fault in self.plan)),
                "supervisor_restarts": self.restarts,
            },
        )  # fmt: skip
        for line in [*self.lines, *self.restarts]:
            self.console.print(line)
        for line in summary_lines(facts):
            self.console.print(line)
        summary = summary_json(facts)
        summary["ok"] = summary["lost"] == 0 and summary["doubled"] == 0
        return summary
