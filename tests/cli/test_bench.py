"""`gridpass bench`: runs the chosen benches and writes the markdown report with its header and columns."""

from __future__ import annotations

from pathlib import Path

from tests.bench.report import COLUMNS
from tests.cli.conftest import gridpass


def test_bench_quick_only_store_writes_the_markdown(tmp_path: Path) -> None:
    output = tmp_path / "benchmarks.md"
    result = gridpass("bench", "--quick", "--only", "store", "--output", output)
    assert result.exit_code == 0, result.output
    text = output.read_text()
    assert text.startswith("# gridpass benchmarks\n")
    for key in ("- CPU: ", "- cores: ", "- RAM: ", "- kernel: ", "- Python: ", "on commit `", "Quick run"):
        assert key in text
    assert "| " + " | ".join(COLUMNS) + " |" in text
    rows = [line for line in text.splitlines() if line.startswith("| terminal store |")]
    assert len(rows) == 4
    assert all(line.count("|") == len(COLUMNS) + 1 for line in rows)
    assert "all benchmarks" in result.stdout
    assert "written to" in result.stdout


def test_bench_refuses_an_unknown_bench(tmp_path: Path) -> None:
    result = gridpass("bench", "--only", "nope", "--output", tmp_path / "x.md")
    assert result.exit_code == 3
    assert "unknown bench nope" in result.output
    assert not (tmp_path / "x.md").exists()
