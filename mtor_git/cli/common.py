"""Helpers shared by subcommands: finding the user's repository, printing JSON (exact strings;
text goes through cli/output.py `echo`)."""

from __future__ import annotations

import contextlib
import gc
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mtor_git import git
from mtor_git.errors import UsageError
from mtor_git.spec.parse import is_valid_id


def open_repo(start: Path | None = None) -> git.Repository:
    """The git repository containing `start` (default: the current directory)."""
    where = str(start or Path.cwd())
    found = git.discover(where)
    if found is None:
        raise UsageError(f"not inside a git repository: {where}")
    return found


def worktree_root(repo: git.Repository) -> Path:
    if repo.workdir is None:
        raise UsageError(f"{repo.path} is a bare repository; run this in a clone")
    return Path(repo.workdir)


def check_id(verb: str, task_id: str) -> str:
    """`task_id`, or UsageError (exit 2) when it cannot be a task id at all: a typo is not an
    unknown task."""
    if not is_valid_id(task_id):
        raise UsageError(f"{verb}: {task_id!r} is not a valid id (1-64 of a-z 0-9 . _ -, "
                         "starting with a letter or digit, no '..', not ending in -r<N>)")
    return task_id


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """The cyclic garbage collector paused: for a verb that builds objects which all live until
    it prints (a board of 5,000 tasks: some 50 collections, each finding nothing)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, sort_keys=False)
    sys.stdout.write("\n")

