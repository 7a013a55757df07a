"""`mtor-git validate [PATH...] [--staged] [--json]`: check task specs."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from mtor_git.cli.common import open_repo, print_json, worktree_root
from mtor_git.cli.output import echo
from mtor_git.spec.validate import Checked, check_files, check_index, spec_files

JSON_VERSION = 1


def add_parser(sub: Any) -> None:
    p = sub.add_parser("validate", help="check task specs (the pre-commit hook calls this)")
    p.add_argument("paths", nargs="*", type=Path, help="spec files (default: every spec in tasks/)")
    p.add_argument("--staged", action="store_true",
                   help="check the specs as staged in the index: exactly what would be committed")
    p.add_argument("--tasks-dir", default="tasks", help="where specs live (default: tasks)")
    p.add_argument("--json", action="store_true", help="print a JSON report on stdout")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if args.staged and args.paths:
        from mtor_git.errors import UsageError
        raise UsageError("validate: give paths or --staged, not both")
    results = _collect(args)
    if args.json:
        print_json(to_json(results))
    else:
        _print_human(results, args.tasks_dir)
    return 0 if all(r.ok for r in results) else 1


def _collect(args: argparse.Namespace) -> list[Checked]:
    if args.paths:
        return check_files(args.paths, root=Path.cwd())
    repo = open_repo()
    if args.staged:
        return check_index(repo, args.tasks_dir, index_file=os.environ.get("GIT_INDEX_FILE"))
    root = worktree_root(repo)
    return check_files(spec_files(root, args.tasks_dir), root=root)


def to_json(results: list[Checked]) -> dict[str, Any]:
    return {
        "version": JSON_VERSION,
        "checked": len(results),
        "valid": [r.path for r in results if r.ok],
        "problems": [{"path": p.path, "line": p.line, "field": p.field, "message": p.message}
                     for r in results for p in r.problems],
    }


def _print_human(results: list[Checked], tasks_dir: str) -> None:
    bad = [r for r in results if not r.ok]
    for r in bad:
        for problem in r.problems:
            echo(problem, file=sys.stderr)
    if not results:
        echo(f"no specs found in {tasks_dir}/", file=sys.stderr)
    elif bad:
        echo(f"mtor-git: {len(bad)} of {len(results)} spec(s) invalid", file=sys.stderr)
    else:
        echo(f"{len(results)} spec(s) valid", file=sys.stderr)
