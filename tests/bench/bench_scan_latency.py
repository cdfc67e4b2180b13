"""Capture-to-indicator latency of the scan loop on the synthetic feed, in real time.

Run: ``python -m tests.bench.bench_scan_latency [--people N] [--fps F] [--size 720p]``.
A synthetic camera renders people showing real passes at ``fps``; the real decoder, verifier, store (a file in
WAL, synchronous=FULL) and a recording indicator run as on a terminal. Printed: latency p50/p99 from a frame's
capture to the indicator call, next to the frame interval (the goal: p99 <= one frame interval + 10 ms) and to a bare
zxing-cpp read of the same frames, measured in the same run. No figure is asserted.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import zxingcpp
from rich.console import Console
from rich.table import Table
from sqlite_utils import Database

from device.camera.synthetic import Presentation, SyntheticCamera, sized
from device.clock import ClockTrust, SystemClock
from device.metrics import DeviceMetrics
from device.scanner.loop import ScanLoop, ScanOutcome
from device.scanner.verifier import FixedLists, ListsSnapshot, Verifier
from device.signal.fake import FakeIndicator
from device.store import DeviceStore, open_database
from device.vision.decoder import Decoder
from device.vision.render import Distortion
from district.passes import issue
from protocol.gp1 import PassStatus
from protocol.keys import Alg, generate_private_key
from protocol.revocation import HeldLists
from protocol.trustlist import TrustedIssuer, build_trust_list, parse_trust_list


class _Ntp:
    def synchronized(self) -> bool:
        return True


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def main(argv: list[str] | None = None) -> dict[str, float]:
    """Run the benchmark; returns its figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--people", type=int, default=40)
    parser.add_argument("--fps", type=float, default=15.0)
    parser.add_argument("--size", default="720p")
    args = parser.parse_args(argv)
    width, height = sized(args.size)
    now = int(time.time())
    root, issuer = generate_private_key(Alg.EDDSA), generate_private_key(Alg.ES256)
    entry = TrustedIssuer.for_key(issuer.public_key(), "CN-ZJ-HZ", nbf=now - 3600, exp=now + 86400)
    trust = parse_trust_list(build_trust_list(root, seq=1, ts=now, issuers=[entry]), root.public_key())
    statuses = [PassStatus.GREEN, PassStatus.YELLOW, PassStatus.RED]
    script = [
        Presentation(
            issue(issuer, iss="CN-ZJ-HZ", status=statuses[i % 3], iat=now - 60).qr_text,
            frames=int(args.fps),
            gap=int(args.fps // 2),
            distortion=Distortion(module_px=3.5 + (i % 4), angle_deg=(i * 7) % 40 - 20, blur_sigma=0.3 * (i % 3)),
        )
        for i in range(args.people)
    ]
    clock = SystemClock()
    camera = SyntheticCamera(script, width=width, height=height, realtime=True, fps=args.fps, sleep=time.sleep)
    outcomes: list[ScanOutcome] = []
    with tempfile.TemporaryDirectory() as tmp:
        store = DeviceStore(open_database(Path(tmp) / "device.db"))
        loop = ScanLoop(
            camera=camera,
            decoder=Decoder(),
            verifier=Verifier(
                FixedLists(ListsSnapshot(trust, HeldLists(), now)), ClockTrust(clock, store, _Ntp()), 1e9
            ),
            indicator=FakeIndicator(),
            gate=None,
            store=store,
            boot_id=store.start_boot(),
            clock=ClockTrust(clock, DeviceStore(Database(memory=True)), _Ntp()),
            metrics=DeviceMetrics(),
            hold_off_s=3.0,
            gate_open_ms=3000,
            on_outcome=outcomes.append,
        )
        while loop.step() is not None:
            pass
        store.db.close()
    bare_ms = []
    for index in range(0, camera.length, max(1, camera.length // 200)):
        frame = camera.render(index)
        started = time.perf_counter()
        zxingcpp.read_barcodes(frame)
        bare_ms.append((time.perf_counter() - started) * 1000)
    latencies = [o.latency_ms for o in outcomes]
    figures = {
        "decisions": float(len(outcomes)),
        "people": float(args.people),
        "dropped_frames": float(camera.dropped),
        "latency_p50_ms": statistics.median(latencies) if latencies else float("nan"),
        "latency_p99_ms": _percentile(latencies, 0.99) if latencies else float("nan"),
        "frame_interval_ms": 1000 / args.fps,
        "bare_zxing_p50_ms": statistics.median(bare_ms),
    }
    figures["goal_ms"] = figures["frame_interval_ms"] + 10
    table = Table(title=f"capture to indicator, {args.people} people at {args.fps:g} fps, {width}x{height}")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for name, value in figures.items():
        table.add_row(name, f"{value:.2f}")
    table.add_row("p99 / goal", f"{figures['latency_p99_ms'] / figures['goal_ms']:.2f}x")
    Console(width=120).print(table)
    return figures


if __name__ == "__main__":
    main()
