"""What the test agents' profiles must show inside the sandbox: the Python the fake agents run
on (`#!/usr/bin/env python3`) may live under a home the sandbox hides (pyenv in /root). Any
profile a test writes declares these in `sandbox_paths`, as a user would for a toolchain of
their own."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

_HIDDEN_ROOTS = (Path("/home"), Path("/root"), Path("/tmp"), Path("/var/tmp"))


def _hidden(path: Path) -> bool:
    return any(path == root or root in path.parents for root in _HIDDEN_ROOTS)


REPO_ROOT = Path(__file__).resolve().parents[1]


def toolchain() -> list[str]:
    """The interpreter prefixes (and a pyenv root) the sandbox would hide, and this checkout
    itself (the fake agents and the venv live in it) when it lies under a hidden root, as a
    clone made with `mktemp -d` does; empty elsewhere."""
    found: list[Path] = [Path(os.path.realpath(sys.base_prefix)),
                         Path(os.path.realpath(sys.prefix)), REPO_ROOT]
    python3 = shutil.which("python3")
    if python3:
        real = Path(os.path.realpath(python3))
        found.append(real.parent.parent if real.parent.name in ("bin", "shims") else real.parent)
    pyenv = os.environ.get("PYENV_ROOT") or str(Path.home() / ".pyenv")
    if Path(pyenv).is_dir():
        found.append(Path(os.path.realpath(pyenv)))
    return sorted({str(p) for p in found if _hidden(p)})


TOOLCHAIN = toolchain()


def with_toolchain(profile: dict[str, object], *, rw: tuple[Path, ...] = ()) -> dict[str, object]:
    """`profile` with the toolchain added to its sandbox_paths, and `rw` (a test's own
    bookkeeping dir, such as the agents' call log) shown writable."""
    declared = list(profile.get("sandbox_paths") or [])  # type: ignore[call-overload]
    extra: list[object] = [p for p in TOOLCHAIN if p not in declared]
    extra += [{"path": str(p), "mode": "rw"} for p in rw]
    return {**profile, "sandbox_paths": declared + extra}
