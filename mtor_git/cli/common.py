"""Helpers shared by subcommands: finding the user's repository, printing JSON (exact strings;
text goes through cli/output.py `echo`)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from mtor_git import git
from mtor_git.errors import UsageError


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


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, sort_keys=False)
    sys.stdout.write("\n")

