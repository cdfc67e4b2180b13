"""The image benchmark runs end to end with tiny numbers and reports every figure (structure only, never speed)."""

from __future__ import annotations

from tests.bench.bench_images import main

IMAGES = 2
SIZE = 100_000


def test_bench_images_reports_each_chunk_size_next_to_raw_paho() -> None:
    rows = main(["--images", str(IMAGES), "--size", str(SIZE), "--chunks", "16,64"])
    assert [row["chunk_kib"] for row in rows] == [16.0, 64.0]
    for row in rows:
        assert row["complete"] == IMAGES
        assert row["sent_bytes"] == IMAGES * SIZE
        assert float(row["ours_mb_s"]) > 0
        assert float(row["reference_mb_s"]) > 0
        assert "refusals 0" in str(row["notes"])
