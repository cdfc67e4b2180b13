"""Decode benchmark: the scanner's decoder next to bare zxing-cpp and bare zbar (pyzbar), on the same frames.

    .venv/bin/python -m tests.bench.bench_decode [--frames 300] [--empty 40] [--seed 1]

Code frames are real passes rendered at 3 to 8 px per module with blur, rotation, perspective, glare, noise, a finger,
phone or paper, in 640x480 and 1280x720; empty frames are checkpoint scenes without a code. For each engine: frames
read (the right text found) and the median time per frame; the union is what any of the three read. Goals: reads at
least zxing-cpp's, up to the union; an empty 1280x720 frame at most 1.2x a bare zxing-cpp call. Nothing asserts on
time: the ratios are printed, measured in the same run. Code frames go to the three engines in turn; empty frames go
through one engine at a time, as a scanner runs one decoder on every frame, the engines taking turns.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import zxingcpp
from cryptography.hazmat.primitives.asymmetric import ed25519
from pyzbar import pyzbar
from rich.console import Console
from rich.table import Table

from device.vision.decoder import Decoder, DecoderOptions
from device.vision.images import Image
from device.vision.render import Distortion, camera_faults, make_scene, qr_modules, render
from district.passes import issue
from protocol.gp1 import PassStatus

SIZES = ((640, 480), (1280, 720))
ENGINES = ("ours", "zxing", "pyzbar")
QR_ONLY = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)
EMPTY_REPEATS = 6
"""Each engine runs over all empty frames this many times, the engines taking turns (empty frames are quick, noisy)."""


@dataclass
class Tally:
    """Reads and times of one engine."""

    reads: int = 0
    times_ms: list[float] = field(default_factory=list)

    @property
    def median_ms(self) -> float:
        """Median time per frame."""
        return statistics.median(self.times_ms) if self.times_ms else float("nan")


def pass_texts(count: int, seed: int) -> list[str]:
    """Real signed passes, the same for the same seed (Ed25519 signatures are deterministic)."""
    texts = []
    for n in range(count):
        key = ed25519.Ed25519PrivateKey.from_private_bytes(bytes([(seed + n) % 256, n % 256]) * 16)
        issued = issue(
            key, iss="CN-ZJ-HZ", status=PassStatus.GREEN, iat=1_800_000_000 + n, hid=bytes([n % 256]) * 16,
            cti=bytes([(n + 7) % 256]) * 16, name="张*三" if n % 2 else None,
        )  # fmt: skip
        texts.append(issued.qr_text)
    return texts


def random_distortion(rng: np.random.Generator) -> Distortion:
    """A hard but mostly readable presentation: 3 to 8 px per module and one or more of the usual faults."""
    return Distortion(
        module_px=float(rng.uniform(3, 8)),
        angle_deg=float(rng.uniform(-180, 180)),
        tilt_deg=float(rng.uniform(0, 45)),
        tilt_axis_deg=float(rng.uniform(0, 180)),
        blur_sigma=float(rng.choice([0.0, rng.uniform(0.5, 2.2)])),
        glare=float(rng.choice([0.0, rng.uniform(0.3, 0.95)])),
        noise_sigma=float(rng.uniform(0, 10)),
        occlusion=float(rng.choice([0.0, 0.0, rng.uniform(0.1, 0.3)])),
        look="phone" if rng.random() < 0.5 else "paper",
        invert=bool(rng.random() < 0.05),
        contrast=float(rng.choice([1.0, rng.uniform(0.35, 1.0)])),
        center=(float(rng.uniform(0.4, 0.6)), float(rng.uniform(0.4, 0.6))),
    )


def code_frames(count: int, seed: int) -> list[tuple[Image, str]]:
    """``count`` frames, each holding one pass, alternating 640x480 and 1280x720."""
    rng = np.random.default_rng([seed, 1])
    texts = pass_texts(8, seed)
    modules = [qr_modules(text) for text in texts]
    scenes = [make_scene(rng, w, h) for w, h in SIZES for _ in range(2)]
    frames = []
    for i in range(count):
        scene = scenes[(i % 2) * 2 + (i // 2) % 2]
        k = i % len(texts)
        frames.append((render(scene, modules[k], random_distortion(rng), rng).image, texts[k]))
    return frames


def empty_frames(count: int, seed: int, size: tuple[int, int]) -> list[Image]:
    """Checkpoint scenes with nobody in front of the camera, a little sensor noise on each."""
    rng = np.random.default_rng([seed, 2, size[0]])
    scenes = [make_scene(rng, *size) for _ in range(4)]
    return [
        camera_faults(scenes[i % 4], rng, blur_sigma=0.0, noise_sigma=float(rng.uniform(1, 4))) for i in range(count)
    ]


def readers() -> dict[str, Callable[[Image], list[str]]]:
    """The three contenders, each a frame in and texts out."""
    decoder = Decoder(DecoderOptions(track=False))

    def ours(frame: Image) -> list[str]:
        return list(decoder.decode(frame).texts)

    def zxing(frame: Image) -> list[str]:
        return [b.text for b in zxingcpp.read_barcodes(frame, formats=QR_ONLY)]

    def zbar(frame: Image) -> list[str]:
        return [s.data.decode("utf-8", "replace") for s in pyzbar.decode(frame, symbols=[pyzbar.ZBarSymbol.QRCODE])]

    return {"ours": ours, "zxing": zxing, "pyzbar": zbar}


def _order(turn: int) -> tuple[str, ...]:
    """Ours and zxing-cpp back to back, taking turns at going first (a cold cache costs whoever is first), then zbar.

    zbar runs last so that its long calls, which leave the caches cold, hurt the two compared alike.
    """
    return ("ours", "zxing", "pyzbar") if turn % 2 == 0 else ("zxing", "ours", "pyzbar")


def _timed(read: Callable[[Image], list[str]], frame: Image) -> tuple[list[str], float]:
    started = time.perf_counter()
    texts = read(frame)
    return texts, (time.perf_counter() - started) * 1000


@dataclass(frozen=True)
class Report:
    """What one run measured."""

    frames: int
    reads: dict[str, int]
    """Frames whose pass each engine read, and ``union``: frames any engine read."""
    median_ms: dict[str, float]
    """Median time per code frame, per engine."""
    empty_ms: dict[str, dict[str, float]]
    """Median time per empty frame, per frame size (``WxH``) and engine."""

    @property
    def ratios(self) -> dict[str, float]:
        """Reads ours/zxing-cpp, and empty-frame time ours/zxing-cpp per size."""
        zxing = self.reads["zxing"]
        ratios = {"reads ours/zxing": self.reads["ours"] / zxing if zxing else float("nan")}
        for size, ms in self.empty_ms.items():
            ratios[f"empty {size} ms ours/zxing"] = ms["ours"] / ms["zxing"]
        return ratios


def run(frames: int, empty: int, seed: int) -> Report:
    """Measure the three engines on the same frames, interleaved frame by frame."""
    engines = readers()
    tallies = {name: Tally() for name in ENGINES}
    union = 0
    for i, (frame, text) in enumerate(code_frames(frames, seed)):
        read_by = set()
        for name in _order(i):
            texts, ms = _timed(engines[name], frame)
            tallies[name].times_ms.append(ms)
            if text in texts:
                tallies[name].reads += 1
                read_by.add(name)
        union += bool(read_by)
    empty_ms: dict[str, dict[str, float]] = {}
    for size in SIZES:
        times: dict[str, list[float]] = {name: [] for name in ENGINES}
        frames_of_size = empty_frames(empty, seed, size)
        for repeat in range(EMPTY_REPEATS):  # each engine over all frames in turn, as a scanner runs one engine
            for name in _order(repeat):
                times[name] += [_timed(engines[name], frame)[1] for frame in frames_of_size]
        empty_ms[f"{size[0]}x{size[1]}"] = {
            name: statistics.median(t) if t else float("nan") for name, t in times.items()
        }
    return Report(
        frames=frames,
        reads={name: t.reads for name, t in tallies.items()} | {"union": union},
        median_ms={name: t.median_ms for name, t in tallies.items()},
        empty_ms=empty_ms,
    )


def show(report: Report, console: Console) -> None:
    """Print the figures as a rich table, then the ratios."""
    table = Table(title=f"QR decoding: {report.frames} rendered pass frames (3-8 px/module, distorted), empty frames")
    table.add_column("engine")
    table.add_column("reads", justify="right")
    table.add_column("median ms", justify="right")
    for size in report.empty_ms:
        table.add_column(f"empty {size} ms", justify="right")
    for name in ENGINES:
        empty = (f"{report.empty_ms[size][name]:.3f}" for size in report.empty_ms)
        table.add_row(name, str(report.reads[name]), f"{report.median_ms[name]:.2f}", *empty)
    table.add_row("union", str(report.reads["union"]), "", *("" for _ in report.empty_ms))
    console.print(table)
    for name, value in report.ratios.items():
        console.print(f"{name}: {value:.3f}")
    console.print("goals: reads ours/zxing >= 1 (up to the union); empty 1280x720 ms ours/zxing <= 1.2")


def main(argv: Sequence[str] | None = None, console: Console | None = None) -> Report:
    """Run the benchmark and print its table; returns the report."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=300, help="rendered frames holding a pass")
    parser.add_argument("--empty", type=int, default=40, help="empty frames per size")
    parser.add_argument("--seed", type=int, default=1, help="seed of the frames")
    args = parser.parse_args(argv)
    report = run(args.frames, args.empty, args.seed)
    show(report, console or Console())
    return report


if __name__ == "__main__":
    main()
