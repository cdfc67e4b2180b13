"""One table of every benchmark: each figure next to its reference from the same run, as a ratio.

``run(names, quick=...)`` runs the benches of ``BENCHES`` in this process (each through its own ``main``, with the
arguments of ``Bench.full`` or ``Bench.quick``), turns each one's rows into :class:`Figure` rows through its adapter
(the benches themselves are not changed: the adapters read what their ``main`` returns), and a bench that fails
becomes one ``failed`` row instead of stopping the others. ``render_table`` prints the figures, ``markdown`` writes
them with a header naming the date, the machine and the git commit. ``gridpass bench`` (``cli/bench.py``) is the
command; ``python -m tests.bench.report`` does the same from a source checkout.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import math
import os
import platform
import re
import subprocess
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parents[2]
DEFAULT_OUTPUT = REPO / "docs" / "benchmarks.md"
COLUMNS = ("capability", "figure", "case", "ours", "reference", "unit", "ratio", "notes")
FAILED = "failed"
MAX_ERROR_CHARS = 300
NAN = float("nan")


@dataclass(frozen=True)
class Figure:
    """One measured figure next to its reference; ``ratio`` is ours / reference (NaN when there is none)."""

    capability: str
    figure: str
    case: str
    ours: float
    reference: float
    unit: str
    notes: str = ""

    @property
    def ratio(self) -> float:
        """ours / reference, NaN without a usable reference."""
        if math.isnan(self.reference) or self.reference == 0 or math.isnan(self.ours):
            return NAN
        return self.ours / self.reference

    @property
    def failed(self) -> bool:
        """The row stands for a bench that did not finish."""
        return self.figure == FAILED

    def cells(self) -> tuple[str, ...]:
        """The row as text, in ``COLUMNS`` order."""
        ratio = "" if math.isnan(self.ratio) else f"{self.ratio:.2f}x"
        return (self.capability, self.figure, self.case, _number(self.ours), _number(self.reference), self.unit,
                ratio, self.notes)  # fmt: skip


def _number(value: float) -> str:
    if math.isnan(value):
        return "-"
    if value == 0 or abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:,.2f}"
    return f"{value:.3g}"


def _f(value: object) -> float:
    return float(value) if isinstance(value, int | float | str) else NAN


# --- adapters: a bench's own result -> Figures ----------------------------------------------------------------------


def figures_decode(report: Any) -> list[Figure]:  # noqa: ANN401 - bench_decode.Report
    """Reads and time per frame of our decoder next to bare zxing-cpp on the same frames."""
    cap = "decode"
    frames = int(report.frames)
    reads, median = report.reads, report.median_ms
    notes = f"pyzbar read {reads['pyzbar']}, any engine {reads['union']}"
    out = [
        Figure(cap, "frames read", f"{frames} rendered pass frames", reads["ours"], reads["zxing"], "frames",
               f"ref: bare zxing-cpp; {notes}"),
        Figure(cap, "median ms per code frame", f"{frames} frames", median["ours"], median["zxing"], "ms",
               f"ref: bare zxing-cpp; pyzbar {median['pyzbar']:.2f} ms"),
    ]  # fmt: skip
    out += [
        Figure(cap, "median ms per empty frame", size, by_engine["ours"], by_engine["zxing"], "ms",
               "ref: bare zxing-cpp; goal ratio <= 1.2")
        for size, by_engine in report.empty_ms.items()
    ]  # fmt: skip
    return out


_VALUE = re.compile(r"^\s*([0-9][0-9,]*(?:\.[0-9]+)?)\s*([A-Za-z]+)\s*$")
_SCALE = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "MB": 1.0, "B": 1e-6, "KB": 1e-3, "GB": 1e3}


def parse_quantity(text: str) -> tuple[float, str] | None:
    """``"12.5 ms"`` -> (12.5, "ms"); None when it is not a number and a unit."""
    match = _VALUE.match(text)
    if match is None:
        return None
    return float(match.group(1).replace(",", "")), match.group(2)


def _in_unit(text: str, unit: str) -> float:
    """``text`` (a quantity) expressed in ``unit`` (both time or both size); NaN if it cannot be."""
    parsed = parse_quantity(text)
    if parsed is None or parsed[1] not in _SCALE or unit not in _SCALE:
        return NAN
    same_kind = (parsed[1] in ("us", "ms", "s")) == (unit in ("us", "ms", "s"))
    return parsed[0] * _SCALE[parsed[1]] / _SCALE[unit] if same_kind else NAN


_REVOCATION_PAIRS = {
    "lookup p50": "set: lookup p50",
    "lookup p99": "set: lookup p99",
    "RSS of the store itself": "set: RSS of the set",
}


def figures_revocation_store(rows: Sequence[Any]) -> list[Figure]:
    """The store's lookups and memory next to a Python set of the same rids; the rest next to its target."""
    cap = "revocation store"
    by_key = {(row.entries, row.metric): row for row in rows}
    out = []
    for row in rows:
        if row.metric.startswith("set:"):
            continue
        parsed = parse_quantity(row.value)
        value, unit = parsed if parsed is not None else (NAN, "")
        case = f"{row.entries:,} rids"
        pair = by_key.get((row.entries, _REVOCATION_PAIRS.get(row.metric, "")))
        if pair is not None:
            reference = _in_unit(pair.value, unit) if pair.value != "-" else NAN
            notes = "ref: Python set, same rids, same run" + (f" ({pair.note})" if pair.value == "-" else "")
        elif row.target:
            reference = _in_unit(row.target, unit)
            notes = f"ref: the target, {row.target} (not a measurement)"
        else:
            reference, notes = NAN, "no reference"
        if row.note:
            notes += f"; {row.note}"
        out.append(Figure(cap, row.metric, case, value, reference, unit, notes))
    return out


def figures_scan_latency(figures: dict[str, float]) -> list[Figure]:
    """Capture-to-indicator latency next to a bare zxing-cpp read of the same frames, and p99 next to the goal."""
    cap = "scan latency"
    case = f"{figures['people']:.0f} people, frame {figures['frame_interval_ms']:.1f} ms"
    notes = f"{figures['decisions']:.0f} decisions, {figures['dropped_frames']:.0f} frames dropped"
    return [
        Figure(cap, "capture to indicator p50", case, figures["latency_p50_ms"], figures["bare_zxing_p50_ms"], "ms",
               f"ref: bare zxing-cpp read p50, same frames; {notes}"),
        Figure(cap, "capture to indicator p99", case, figures["latency_p99_ms"], figures["goal_ms"], "ms",
               "ref: the goal, one frame interval + 10 ms (not a measurement)"),
    ]  # fmt: skip


def figures_store(rows: Sequence[dict[str, Any]]) -> list[Figure]:
    """A durable event's commit next to a bare sqlite3 INSERT + COMMIT with the same settings."""
    notes = "ref: bare sqlite3 INSERT + COMMIT, same disk"
    return [
        Figure("terminal store", f"event commit {q}", f"synchronous={row['synchronous']}", _f(row[f"ours_{q}_ms"]),
               _f(row[f"bare_{q}_ms"]), "ms", notes)
        for row in rows
        for q in ("p50", "p99")
    ]  # fmt: skip


def figures_sync(rows: Sequence[dict[str, Any]]) -> list[Figure]:
    """The backlog drain and the hub ingest next to their minimal pipelines."""
    return [
        Figure("sync", str(row["figure"]), str(row["case"]), _f(row["ours_events_s"]), _f(row["reference_events_s"]),
               "events/s", f"ref: {row['reference']}; {row['notes']}")
        for row in rows
    ]  # fmt: skip


def figures_verify(report: Any) -> list[Figure]:  # noqa: ANN401 - bench_verify.Report
    """Decisions per second next to bare signature verifications of the same bytes."""
    return [
        Figure("verify", "decisions/s", row.name, row.decisions_per_s, row.verifies_per_s, "per s",
               f"ref: bare cryptography verify, same key and bytes; revocation list {report.revocation_entries:,}; "
               "goal ratio >= 0.5")
        for row in report.rows
    ]  # fmt: skip


def figures_images(rows: Sequence[dict[str, Any]]) -> list[Figure]:
    """Snapshot upload throughput next to raw paho QoS 1 on the same broker."""
    return [
        Figure("images", "upload", f"chunk {_f(row['chunk_kib']):.0f} KiB", _f(row["ours_mb_s"]),
               _f(row["reference_mb_s"]), "MiB/s", f"ref: raw paho QoS 1, nothing stored; {row['notes']}")
        for row in rows
    ]  # fmt: skip


def figures_motion(result: dict[str, Sequence[dict[str, Any]]]) -> list[Figure]:
    """Motion detection per frame and JPEG encoding next to bare OpenCV."""
    out = []
    for row in result["motion"]:
        notes = (f"ref: bare cvtColor+absdiff+threshold; motion on empty frames ours {_f(row['ours_false']):.0f} / "
                 f"bare {_f(row['bare_false']):.0f} of {_f(row['quiet_frames']):.0f}")  # fmt: skip
        out += [Figure("motion", f"detect {q}", str(row["size"]), _f(row[f"ours_{q}_ms"]), _f(row[f"bare_{q}_ms"]),
                       "ms", notes) for q in ("p50", "p99")]  # fmt: skip
    for row in result["encode"]:
        size, share = _f(row["bytes"]), _f(row["bytes"]) / _f(row["raw_bytes"])
        out.append(Figure("motion", "JPEG encode p50", f"{row['size']} q{_f(row['quality']):.0f}",
                          _f(row["ours_p50_ms"]), _f(row["bare_p50_ms"]), "ms",
                          f"ref: bare cv2.imencode; {size / 1000:.0f} kB, {share:.3f} of the raw frame"))  # fmt: skip
    return out


def figures_dashboard(rows: Sequence[dict[str, Any]]) -> list[Figure]:
    """Dashboard pages through the whole app next to a bare FastAPI endpoint returning as many rows."""
    return [
        Figure("dashboard", f"{row['page']} {q}", f"{row['backend']}, {row['rows']} rows", _f(row[f"ours_{q}_ms"]),
               _f(row[f"ref_{q}_ms"]), "ms", f"ref: bare FastAPI JSON of the same rows; budget 300 ms: "
               f"{row['budget']}; {row['notes']}")
        for row in rows
        for q in ("p50", "p99")
    ]  # fmt: skip


def figures_fleet(rows: Sequence[dict[str, Any]]) -> list[Figure]:
    """The fleet run's rows are already figures."""
    return [
        Figure("fleet", str(row["figure"]), str(row["case"]), _f(row["ours"]), _f(row["reference"]), str(row["unit"]),
               f"ref: {row['reference_name']}; {row['notes']}")
        for row in rows
    ]  # fmt: skip


def figures_generic(rows: object) -> list[Figure]:
    """A bench without an adapter of its own whose rows carry ``figure``/``ours``/``reference`` keys."""
    if not isinstance(rows, list):
        raise TypeError(f"no adapter for a result of type {type(rows).__name__}")
    out = []
    for row in rows:
        if not isinstance(row, dict) or not {"ours", "reference"} <= row.keys():
            raise TypeError("no adapter for these rows (need ours and reference)")
        out.append(Figure("", str(row.get("figure", "")), str(row.get("case", "")), _f(row["ours"]),
                          _f(row["reference"]), str(row.get("unit", "")), str(row.get("notes", ""))))  # fmt: skip
    return out


# --- the benches -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bench:
    """One bench module: its arguments for a full and a quick run and the adapter of its result."""

    name: str
    full: tuple[str, ...]
    quick: tuple[str, ...]
    adapter: Callable[[Any], list[Figure]]

    @property
    def module(self) -> str:
        """The module run (``tests.bench.bench_<name>``)."""
        return f"tests.bench.bench_{self.name}"


BENCHES = (
    Bench("verify", (), ("--seconds", "0.05", "--rids", "1000"), figures_verify),
    Bench("decode", (), ("--frames", "6", "--empty", "2"), figures_decode),
    Bench("scan_latency", (), ("--people", "3", "--fps", "30", "--size", "vga"), figures_scan_latency),
    Bench("store", (), ("--events", "20"), figures_store),
    Bench("revocation_store", (), ("--entries", "20000", "--lookups", "2000"), figures_revocation_store),
    Bench("motion", (), ("--frames", "6", "--repeat", "1"), figures_motion),
    Bench("dashboard", (), ("--terminals", "30", "--events", "600", "--repeat", "3"), figures_dashboard),
    Bench("images", (), ("--images", "2", "--size", "100000", "--chunks", "16,64"), figures_images),
    Bench("sync", ("--postgres",), ("--events", "600"), figures_sync),
    Bench("fleet", (), ("--terminals", "30", "--minutes", "0.5", "--processes", "2"), figures_fleet),
)
"""Every bench, cheapest first. A bench module not listed here is named by :func:`unlisted` (and not run)."""


def bench_names() -> list[str]:
    """Names of the listed benches."""
    return [bench.name for bench in BENCHES]


def unlisted() -> list[str]:
    """Bench modules present in ``tests/bench`` that the report does not run (no adapter yet)."""
    known = set(bench_names())
    found = (path.stem.removeprefix("bench_") for path in Path(__file__).parent.glob("bench_*.py"))
    return sorted(name for name in found if name not in known)


@dataclass(frozen=True)
class Outcome:
    """One bench's run: its figures (or one failed row) and how long it took."""

    bench: str
    figures: list[Figure]
    seconds: float
    error: str | None = None


def run_one(bench: Bench, *, quick: bool, console: Console) -> Outcome:
    """Run one bench in this process; a failure becomes a ``failed`` row carrying the error."""
    args = list(bench.quick if quick else bench.full)
    started = time.perf_counter()
    try:
        module = importlib.import_module(bench.module)
        result = module.main(args)
        figures = bench.adapter(result)
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - any bench failure is reported in the table
        console.print(f"[red]{bench.name} failed:[/red] {exc!r}")
        console.print(traceback.format_exc(limit=-3), markup=False, highlight=False)
        error = f"{type(exc).__name__}: {exc}".replace("\n", " ")[:MAX_ERROR_CHARS]
        failed = Figure(bench.name, FAILED, " ".join(args) or "defaults", NAN, NAN, "", error)
        return Outcome(bench.name, [failed], time.perf_counter() - started, error)
    return Outcome(bench.name, figures, time.perf_counter() - started)


def select(only: Iterable[str] = ()) -> list[Bench]:
    """The benches named in ``only`` (all when empty), in ``BENCHES`` order; an unknown name raises ValueError."""
    wanted = list(only)
    unknown = [name for name in wanted if name not in bench_names()]
    if unknown:
        raise ValueError(f"unknown bench {', '.join(unknown)}; known: {', '.join(bench_names())}")
    return [bench for bench in BENCHES if not wanted or bench.name in wanted]


# --- output ------------------------------------------------------------------------------------------------------


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def machine() -> dict[str, str]:
    """CPU model, cores, memory, kernel, Python."""
    cpu = next((line.split(":", 1)[1].strip() for line in _read("/proc/cpuinfo").splitlines()
                if line.startswith("model name")), platform.processor() or platform.machine())  # fmt: skip
    mem_kb = next((int(line.split()[1]) for line in _read("/proc/meminfo").splitlines()
                   if line.startswith("MemTotal:")), 0)  # fmt: skip
    return {
        "CPU": cpu,
        "cores": str(os.cpu_count() or 0),
        "RAM": f"{mem_kb / 1024 / 1024:.1f} GiB" if mem_kb else "unknown",
        "kernel": f"{platform.system()} {platform.release()}",
        "Python": f"{platform.python_implementation()} {platform.python_version()}",
    }


def git_commit() -> str:
    """The checkout's commit, with ``+changes`` when the tree differs from it; ``unknown`` outside git."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=REPO, capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()  # fmt: skip
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO,
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{head}+changes" if dirty else head


def render_table(figures: Sequence[Figure], console: Console, title: str = "gridpass benchmarks") -> None:
    """Print every figure as one table."""
    table = Table(title=title)
    for column in COLUMNS:
        table.add_column(
            column, overflow="fold", justify="right" if column in ("ours", "reference", "ratio") else "left"
        )
    previous = None
    for figure in figures:
        cells = list(figure.cells())
        if figure.failed:
            cells[1] = f"[red]{FAILED}[/red]"
        table.add_row(*cells, end_section=previous is not None and previous != figure.capability)
        previous = figure.capability
    console.print(table)


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(outcomes: Sequence[Outcome], *, quick: bool, when: dt.datetime | None = None) -> str:
    """The report as markdown: a header (start date, machine, commit, how it was run) and one table."""
    when = when or dt.datetime.now(dt.UTC)
    lines = [
        "# gridpass benchmarks",
        "",
        (
            f"Started {when.strftime('%Y-%m-%d %H:%M UTC')} by `gridpass bench{' --quick' if quick else ''}` on commit "
            f"`{git_commit()}`."
        ),
        "",
        *(f"- {key}: {value}" for key, value in machine().items()),
        "",
        (
            "Each figure is next to its reference measured in the same run (or, where the notes say so, a target); "
            "ratio = ours / reference. A bench that failed shows as `failed` with its error. No figure is asserted "
            "anywhere; see `tests/bench/` for what each bench does."
        ),
        "",
    ]
    if quick:
        lines += ["**Quick run: tiny sizes, for checking the machinery; the figures mean little.**", ""]
    lines += ["| " + " | ".join(COLUMNS) + " |", "|" + "|".join("---" for _ in COLUMNS) + "|"]
    for outcome in outcomes:
        for figure in outcome.figures:
            cells = list(figure.cells())
            if figure.failed:
                cells[1] = f"**{FAILED}**"
            lines.append("| " + " | ".join(_md(cell) for cell in cells) + " |")
    lines += ["", "| bench | seconds |", "|---|---|"]
    lines += [f"| {o.bench}{' (failed)' if o.error else ''} | {o.seconds:.0f} |" for o in outcomes]
    if missing := unlisted():
        lines += ["", f"Not in this report (no adapter yet): {', '.join(missing)}."]
    return "\n".join([*lines, ""])


def run(names: Iterable[str] = (), *, quick: bool = False, output: Path | None = DEFAULT_OUTPUT,
        console: Console | None = None) -> list[Outcome]:  # fmt: skip
    """Run the benches, print the table, write the markdown to ``output`` (unless None); return the outcomes."""
    console = console or Console()
    benches = select(names)
    started = dt.datetime.now(dt.UTC)
    outcomes = []
    for index, bench in enumerate(benches, start=1):
        console.rule(f"[{index}/{len(benches)}] bench {bench.name}{' (quick)' if quick else ''}")
        outcomes.append(run_one(bench, quick=quick, console=console))
    figures = [figure for outcome in outcomes for figure in outcome.figures]
    console.rule("all benchmarks")
    render_table(figures, console)
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(markdown(outcomes, quick=quick, when=started))
        console.print(f"written to {output}")
    return outcomes


def main(argv: list[str] | None = None) -> int:
    """``python -m tests.bench.report [--quick] [--only NAME] [--output PATH]``; 1 if a bench failed."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="Tiny sizes (a smoke run).")
    parser.add_argument("--only", action="append", default=[], choices=bench_names(), help="Run only this bench.")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="Markdown file to write.")
    args = parser.parse_args(argv)
    outcomes = run(args.only, quick=args.quick, output=args.output)
    return 1 if any(outcome.error for outcome in outcomes) else 0


if __name__ == "__main__":
    raise SystemExit(main())
