"""kill -9 in the middle of writing events: the store reopens whole, sequences contiguous, nothing half-written."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from device.store import DeviceStore, open_database
from protocol.topics import Stream

WRITER = """
import sys
from pathlib import Path
from device.store import DeviceStore, ScanEvent, open_database
store = DeviceStore(open_database(Path(sys.argv[1])))
boot = store.start_boot()
print("ready", flush=True)
while True:
    store.record_event(boot, ScanEvent(at=1.8e9, time_source="ntp", decision="pass", reason="ok", rid="ab" * 16))
"""


@pytest.mark.parametrize("delay_s", [0.05, 0.13, 0.31])
def test_kill_mid_write_leaves_a_whole_store(tmp_path: Path, delay_s: float) -> None:
    path = tmp_path / "device.db"
    total_before = 0
    for _round in range(3):
        writer = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path)],
            stdout=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
        )
        assert writer.stdout is not None
        assert writer.stdout.readline().strip() == b"ready"
        time.sleep(delay_s)  # let it write for a while; the kill lands anywhere in a transaction
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=30)
        store = DeviceStore(open_database(path))
        assert store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        seqs = [event.seq for event in store.events()]
        assert seqs == list(range(1, len(seqs) + 1)), "sequence numbers are contiguous, none reused or lost"
        assert len(seqs) >= total_before, "nothing committed before is lost"
        next_seq = store.counts()[Stream.EVENTS.value]["next_seq"]
        assert next_seq == len(seqs) + 1, "the counter moved exactly with the rows"
        total_before = len(seqs)
        store.db.close()
    assert total_before > 0
