"""`mtor-git new <id>`: write a spec skeleton that validates."""

from __future__ import annotations

import argparse
import os
from typing import Any

from mtor_git.cli.common import open_repo, print_json, worktree_root
from mtor_git.cli.output import echo
from mtor_git.errors import SpecError, UsageError
from mtor_git.spec.parse import is_valid_id, parse_spec, skeleton


def add_parser(sub: Any) -> None:
    p = sub.add_parser("new", help="write a spec skeleton into tasks/")
    p.add_argument("id", help="task id: 1-64 of a-z 0-9 . _ -")
    p.add_argument("--agent", help="agent profile to name in the spec")
    p.add_argument("--tasks-dir", default="tasks")
    p.add_argument("--json", action="store_true", help="print versioned JSON")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if not is_valid_id(args.id):  # before it becomes part of a path
        raise UsageError(f"new: {args.id!r} is not a valid task id (1-64 of a-z 0-9 . _ -, "
                         "starting with a letter or digit, no '..', not ending in -r<N>)")
    text = skeleton(args.id, agent=args.agent)
    try:  # the parser has the remaining rules (reserved -r<N> suffix, --agent)
        parse_spec(text.encode(), f"{args.tasks_dir}/{args.id}.md")
    except SpecError as exc:
        detail = "; ".join(f"{p.field}: {p.message}" for p in exc.problems)
        raise UsageError(f"new: {detail}") from None
    root = worktree_root(open_repo())
    folder = root / args.tasks_dir
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{args.id}.md"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        raise UsageError(f"new: {path} already exists") from None
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    if args.json:
        print_json({"version": 1, "ok": True, "task": args.id, "path": str(path)})
    else:
        echo(os.path.relpath(path))
    return 0
