"""Type-check the signal board's MicroPython firmware against the RP2040's stubs instead of CPython's typeshed.

micropython-rp2-stubs installs top-level ``machine.pyi``, ``time.pyi``, ... that mypy will not take from
site-packages, and ``time``/``sys``/``select`` are stdlib names that mypy only ever reads from its typeshed. So this
assembles a typeshed: micropython-stdlib-stubs' reduced stdlib, the rp2 modules laid over it and listed in its
``VERSIONS``, and runs ``mypy --strict --custom-typeshed-dir`` on the board's files with ``hardware/board/mypy.ini``.

    python -m hardware.board_typecheck            # exit status is mypy's
"""

from __future__ import annotations

import importlib.metadata
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

BOARD_DIR = Path(__file__).resolve().parent / "board"
STUB_DISTRIBUTIONS = ("micropython-stdlib-stubs", "micropython-rp2-stubs")
"""The stdlib first, then the port's modules over it."""
STDLIB_DIR = "stdlib"
EXTRA_STUBS_DIR = "stubs"
MYPY_TIMEOUT_S = 300.0


class StubsMissingError(RuntimeError):
    """The MicroPython stub packages are not installed."""


@dataclass(frozen=True)
class CheckResult:
    """mypy's verdict."""

    status: int
    output: str

    @property
    def ok(self) -> bool:
        """No type error."""
        return self.status == 0


def _stub_roots(distribution: str) -> tuple[Path, list[str]]:
    """Where a stub distribution is installed and the top-level names it holds."""
    try:
        dist = importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError as exc:
        raise StubsMissingError(f"{distribution} is not installed: pip install {distribution}") from exc
    tops = sorted({Path(str(file)).parts[0] for file in dist.files or () if str(file).endswith(".pyi")})
    return Path(str(dist.locate_file(""))), tops


def build_typeshed(dest: Path) -> Path:
    """A typeshed for MicroPython on the RP2040 under ``dest``; returns ``dest``."""
    stdlib = dest / STDLIB_DIR
    base, tops = _stub_roots(STUB_DISTRIBUTIONS[0])
    shutil.copytree(base / STDLIB_DIR, stdlib, dirs_exist_ok=True)
    if (base / EXTRA_STUBS_DIR).is_dir():
        shutil.copytree(base / EXTRA_STUBS_DIR, dest / EXTRA_STUBS_DIR, dirs_exist_ok=True)
    extra = [name for name in tops if name not in (STDLIB_DIR, EXTRA_STUBS_DIR)]
    port_base, port_tops = _stub_roots(STUB_DISTRIBUTIONS[1])
    for root, names in ((base, extra), (port_base, port_tops)):
        for name in names:
            source = root / name
            if source.is_dir():
                shutil.copytree(source, stdlib / name, dirs_exist_ok=True)
            else:
                shutil.copy2(source, stdlib / name)
    versions = stdlib / "VERSIONS"
    text = versions.read_text(encoding="utf-8")
    known = {line.split(":", 1)[0].strip() for line in text.splitlines() if ":" in line}
    modules = sorted({Path(name).name.removesuffix(".pyi") for name in (*extra, *port_tops)} - known)
    versions.write_text(text + "".join(f"{module}: 3.0-\n" for module in modules), encoding="utf-8")
    return dest


def check(board_dir: Path, work_dir: Path) -> CheckResult:
    """mypy over every ``.py`` of ``board_dir`` (typeshed and cache under ``work_dir``)."""
    typeshed = build_typeshed(work_dir / "typeshed")
    files = sorted(path.name for path in board_dir.glob("*.py"))
    command = [
        sys.executable, "-m", "mypy",
        "--config-file", str(BOARD_DIR / "mypy.ini"),
        "--custom-typeshed-dir", str(typeshed),
        "--cache-dir", str(work_dir / "cache"),
        *files,
    ]  # fmt: skip
    done = subprocess.run(  # noqa: S603 - our own interpreter running mypy on our own files
        command, cwd=board_dir, capture_output=True, text=True, timeout=MYPY_TIMEOUT_S, check=False
    )
    return CheckResult(done.returncode, done.stdout + done.stderr)


def main() -> int:
    """Check the board in place and print mypy's report."""
    import tempfile  # noqa: PLC0415

    with tempfile.TemporaryDirectory(prefix="board-mypy-") as work:
        result = check(BOARD_DIR, Path(work))
    sys.stdout.write(result.output)
    return result.status


if __name__ == "__main__":
    raise SystemExit(main())
