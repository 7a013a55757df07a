"""`mtor-git init`, `mtor-git hooks install [--force]` and the hidden `mtor-git hook NAME` that
installed hooks call."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from mtor_git.cli.common import open_repo, print_json, worktree_root
from mtor_git.cli.output import echo
from mtor_git.client import hooks
from mtor_git.errors import MtorError, UsageError
from mtor_git.spec.validate import Checked, check_index, check_push


def add_parser(sub: Any) -> None:
    p = sub.add_parser("init", help="make this repository dispatch-ready: tasks/ and hooks")
    p.add_argument("--force", action="store_true", help="replace foreign hooks (a copy is kept)")
    p.add_argument("--tasks-dir", default="tasks")
    p.add_argument("--json", action="store_true", help="print versioned JSON")
    p.set_defaults(handler=run_init)

    h = sub.add_parser("hooks", help="manage the client-side git hooks")
    hsub = h.add_subparsers(dest="hooks_command", metavar="ACTION", required=True,
                            parser_class=type(h))
    inst = hsub.add_parser("install", help="install pre-commit and pre-push hooks")
    inst.add_argument("--force", action="store_true",
                      help="replace a foreign hook instead of chaining it (a copy is kept)")
    inst.add_argument("--json", action="store_true", help="print versioned JSON")
    inst.set_defaults(handler=run_install)
    srv = hsub.add_parser("install-server", help="install the post-receive hook that pokes "
                          "this host's daemon, in a bare repository it watches")
    srv.add_argument("repo", type=Path, help="the bare repository (on this host)")
    srv.add_argument("--config", type=Path, help="the daemon's configuration (for its "
                     "runtime_dir); default: the default configuration")
    srv.add_argument("--force", action="store_true",
                     help="replace a foreign hook instead of chaining it (a copy is kept)")
    srv.add_argument("--json", action="store_true", help="print versioned JSON")
    srv.set_defaults(handler=run_install_server)

    hook = sub.add_parser("hook", help=argparse.SUPPRESS)
    hook.add_argument("name", choices=hooks.CLIENT_HOOKS)
    hook.add_argument("rest", nargs="*")
    hook.add_argument("--tasks-dir", default="tasks")
    hook.set_defaults(handler=run_hook)


def run_init(args: argparse.Namespace) -> int:
    repo = open_repo()
    tasks = worktree_root(repo) / args.tasks_dir
    created = not tasks.exists()
    tasks.mkdir(parents=True, exist_ok=True)
    keep = tasks / ".gitkeep"
    if created:
        keep.touch()
    done = hooks.install(repo, force=args.force)
    if args.json:
        _report(done, as_json=True, tasks={"path": str(tasks), "created": created})
        return 0
    echo(f"{'created' if created else 'kept'} {tasks}")
    _report(done)
    return 0


def run_install(args: argparse.Namespace) -> int:
    _report(hooks.install(open_repo(), force=args.force), as_json=args.json)
    return 0


def run_install_server(args: argparse.Namespace) -> int:
    from mtor_git import git
    from mtor_git.deploy.files import post_receive

    if args.config is not None and not args.config.is_file():
        raise UsageError(f"--config {args.config}: no such file")
    repo = git.open_repository(args.repo)
    sock = None
    if args.config is not None:  # the socket's path, for the hook's fast path
        from mtor_git.config.load import load_config
        from mtor_git.worker.poke import socket_path

        try:
            sock = socket_path(load_config(args.config).runtime_dir)
        except MtorError as exc:  # the hook runs the CLI alone, which says why at each push
            echo(f"mtor-git: the hook will poke through the CLI only: {exc}", file=sys.stderr)
    hook = post_receive(config=args.config, sock=sock)
    _report([hooks.install_server(repo, hook, force=args.force)],
            as_json=args.json)
    return 0


def _report(done: list[hooks.Installed], *, as_json: bool = False,
            tasks: dict[str, object] | None = None) -> None:
    if as_json:
        hooks_json = [{"name": h.name, "path": str(h.path), "action": h.action} for h in done]
        print_json({"version": 1, "ok": True, **({"tasks": tasks} if tasks else {}),
                    "hooks": hooks_json})
        return
    for item in done:
        note = {
            "chained": f" (your hook was kept as {item.name}.legacy and runs first)",
            "replaced": f" (your hook was saved as {item.name}.mtor-backup)",
        }.get(item.action, "")
        echo(f"{item.action} {item.path}{note}")


def run_hook(args: argparse.Namespace) -> int:
    repo = open_repo()
    results: list[Checked]
    if args.name == "pre-commit":
        results = check_index(repo, args.tasks_dir, index_file=os.environ.get("GIT_INDEX_FILE"),
                              changed_only=True)
    elif args.name == "pre-push":
        results = check_push(repo, hooks.read_push_updates(sys.stdin.read()), args.tasks_dir)
    else:  # pragma: no cover - argparse choices
        raise UsageError(f"unknown hook {args.name}")
    bad = [r for r in results if not r.ok]
    for r in bad:
        for problem in r.problems:
            echo(problem, file=sys.stderr)
    if bad:
        verb = "commit" if args.name == "pre-commit" else "push"
        echo(f"mtor-git: {len(bad)} invalid task spec(s); fix them before you {verb} "
             "(`mtor-git validate` checks again)", file=sys.stderr)
        return 1
    return 0
