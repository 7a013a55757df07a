"""The house style is enforced by the suite itself: ruff on everything, mypy --strict on the
library and its tests (configured in pyproject.toml)."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _tool(name: str) -> str:
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed (it is in the project's test extra)")
    return found


def test_ruff_finds_nothing() -> None:
    proc = subprocess.run([_tool("ruff"), "check", "mtor_git", "tests", "bench"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.slow
def test_mypy_strict_finds_nothing() -> None:
    proc = subprocess.run([_tool("mypy")], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_layer_contracts_hold() -> None:
    """import-linter: each package imports only from the ones below it (pyproject.toml)."""
    proc = subprocess.run([_tool("lint-imports")], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def test_only_the_git_package_imports_pygit2_and_only_proc_and_spawn_import_subprocess() -> None:
    lib = ROOT / "mtor_git"
    pygit2_users, subprocess_users = [], []
    for path in sorted(lib.rglob("*.py")):
        rel = path.relative_to(lib).as_posix()
        names = _imports(path)
        if "pygit2" in names and not rel.startswith("git/"):
            pygit2_users.append(rel)
        if "subprocess" in names and rel not in ("proc.py", "agent/spawn.py"):
            subprocess_users.append(rel)
    assert pygit2_users == [], f"pygit2 imported outside mtor_git/git/: {pygit2_users}"
    assert subprocess_users == [], f"subprocess imported outside proc.py/spawn: {subprocess_users}"
