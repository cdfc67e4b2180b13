"""Camera terminal: what motion detection costs per frame, and what a snapshot costs to encode.

Run: ``python -m tests.bench.bench_motion [--frames N] [--repeat R]``.

Motion: the same rendered frames of the walking scene (``device.camera.scene``, BGR, with sensor noise and flicker)
at 640x480 and 1280x720 go through our detector (grey, shrink, blur, background, brightness correction, threshold,
opening, boxes) and through a bare OpenCV reference (grey, ``cv2.absdiff`` with the previous frame,
``cv2.threshold``, ``cv2.countNonZero``, at full size). Printed: ms per frame p50/p99 for both and the ratio, and
how many frames without anyone in view each of them called motion (both at threshold 15 and the default minimum
area).

Encoding: one frame with a person in it, through ``encode_jpeg`` (ours: checks and the width cap, here not
shrinking) and through a bare ``cv2.imencode`` at each quality; ms p50 for both and the ratio, the JPEG's bytes and
its size next to the raw frame's bytes. No figure is asserted.
"""

from __future__ import annotations

import argparse
import statistics
import time

import cv2
from rich.console import Console
from rich.table import Table

from device.camera.scene import SceneCamera
from device.snapshots.encode import encode_jpeg
from device.snapshots.motion import MotionDetector, MotionSettings
from device.vision.images import Image, u8

SIZES = ((640, 480), (1280, 720))
QUALITIES = (50, 70, 85, 95)
SENSITIVE_THRESHOLD = 15
"""Both detectors run at this threshold (grey levels): sensitive enough for a person in dull clothes."""


def _p50_p99(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def _bare_motion(previous: Image, image: Image, settings: MotionSettings) -> bool:
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    _, changed = cv2.threshold(cv2.absdiff(previous, grey), settings.threshold, 255, cv2.THRESH_BINARY)
    return cv2.countNonZero(changed) / changed.size >= settings.min_area


def motion_rows(frames: int, repeat: int) -> list[dict[str, float | str]]:
    """Per-frame cost and false alarms of ours and the bare reference at each size."""
    rows: list[dict[str, float | str]] = []
    settings = MotionSettings(threshold=SENSITIVE_THRESHOLD)
    for width, height in SIZES:
        scene = SceneCamera(width=width, height=height, seed=7, walk_frames=max(2, frames // 2),
                            gap_frames=frames - max(2, frames // 2))  # fmt: skip
        images = [scene.render(i) for i in range(frames)]
        quiet = [i > 0 and scene.person_box(i) is None and scene.person_box(i - 1) is None for i in range(frames)]
        ours_ms: list[float] = []
        bare_ms: list[float] = []
        ours_false = bare_false = 0
        for round_ in range(repeat):
            detector = MotionDetector(settings)
            for index, image in enumerate(images):
                started = time.perf_counter()
                result = detector.detect(image)
                ours_ms.append((time.perf_counter() - started) * 1000)
                ours_false += round_ == 0 and quiet[index] and result.motion
            previous = u8(cv2.cvtColor(images[0], cv2.COLOR_BGR2GRAY))
            for index, image in enumerate(images[1:], start=1):
                started = time.perf_counter()
                moved = _bare_motion(previous, image, settings)
                bare_ms.append((time.perf_counter() - started) * 1000)
                previous = u8(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY))
                bare_false += round_ == 0 and quiet[index] and moved
        (o50, o99), (b50, b99) = _p50_p99(ours_ms), _p50_p99(bare_ms)
        rows.append({
            "size": f"{width}x{height}", "ours_p50_ms": o50, "ours_p99_ms": o99, "bare_p50_ms": b50,
            "bare_p99_ms": b99, "ratio_p50": o50 / b50 if b50 else float("nan"), "quiet_frames": float(sum(quiet)),
            "ours_false": float(ours_false), "bare_false": float(bare_false),
        })  # fmt: skip
    return rows


def encode_rows(repeat: int) -> list[dict[str, float | str]]:
    """Encode time and size by quality, ours next to a bare cv2.imencode, sizes next to the raw frame."""
    rows: list[dict[str, float | str]] = []
    for width, height in SIZES:
        scene = SceneCamera(width=width, height=height, seed=7, walk_frames=20, gap_frames=0)
        image = scene.render(10)
        for quality in QUALITIES:
            ours, bare = [], []
            size = 0
            for _ in range(repeat):
                started = time.perf_counter()
                size = encode_jpeg(image, quality=quality, max_width=width).size
                ours.append((time.perf_counter() - started) * 1000)
                started = time.perf_counter()
                cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
                bare.append((time.perf_counter() - started) * 1000)
            o50, b50 = statistics.median(ours), statistics.median(bare)
            rows.append({"size": f"{width}x{height}", "quality": float(quality), "ours_p50_ms": o50,
                         "bare_p50_ms": b50, "ratio_p50": o50 / b50 if b50 else float("nan"), "bytes": float(size),
                         "raw_bytes": float(image.nbytes)})  # fmt: skip
    return rows


def main(argv: list[str] | None = None) -> dict[str, list[dict[str, float | str]]]:
    """Run the benchmark; returns the rows it printed."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=120, help="Frames of the scene per size (half of them empty).")
    parser.add_argument("--repeat", type=int, default=3, help="Passes over the frames (and encodes per quality).")
    args = parser.parse_args(argv)
    console = Console(width=140)
    motion = motion_rows(max(4, args.frames), max(1, args.repeat))
    table = Table(title="motion per frame: ours (MotionDetector.detect) next to bare cvtColor+absdiff+threshold")
    for column in ("size", "ours p50 ms", "ours p99 ms", "bare p50 ms", "bare p99 ms", "ours/bare p50",
                   "motion called on empty frames: ours / bare"):  # fmt: skip
        table.add_column(column)
    for row in motion:
        cells = [f"{float(row[k]):.3f}" for k in ("ours_p50_ms", "ours_p99_ms", "bare_p50_ms", "bare_p99_ms")]
        false = f"{row['ours_false']:.0f} / {row['bare_false']:.0f} of {row['quiet_frames']:.0f}"
        table.add_row(str(row["size"]), *cells, f"{float(row['ratio_p50']):.2f}x", false)
    console.print(table)
    encode = encode_rows(max(1, args.repeat * 5))
    table = Table(title="snapshot JPEG encode by quality: ours (encode_jpeg) next to bare cv2.imencode")
    for column in ("size", "quality", "ours p50 ms", "bare p50 ms", "ours/bare", "bytes", "bytes/raw frame"):
        table.add_column(column)
    for row in encode:
        table.add_row(str(row["size"]), f"{row['quality']:.0f}", f"{float(row['ours_p50_ms']):.3f}",
                      f"{float(row['bare_p50_ms']):.3f}", f"{float(row['ratio_p50']):.2f}x", f"{row['bytes']:.0f}",
                      f"{float(row['bytes']) / float(row['raw_bytes']):.3f}")  # fmt: skip
    console.print(table)
    return {"motion": motion, "encode": encode}


if __name__ == "__main__":
    main()
