"""`mtor-git dispatch <file>`, `retry <id>` and `cancel <id>`: the user's steering verbs."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from mtor_git.cli.common import check_id, print_json
from mtor_git.cli.output import echo
from mtor_git.cli.status import add_source_args, load_snapshot
from mtor_git.client import steering
from mtor_git.errors import GitOpError
from mtor_git.git import refs

JSON_VERSION = 1


def add_parser(sub: Any) -> None:
    d = sub.add_parser("dispatch", help="validate a spec, commit it into tasks/ and push it")
    d.add_argument("file", type=Path, help="the spec (its file name gives the task id)")
    add_source_args(d)
    d.set_defaults(handler=run_dispatch)

    r = sub.add_parser("retry", help="ask the workers to run a done task again (new branch)")
    r.add_argument("id")
    add_source_args(r)
    r.set_defaults(handler=run_retry)

    c = sub.add_parser("cancel", help="ask the workers to stop a task (recorded as cancelled)")
    c.add_argument("id")
    c.add_argument("--reason", default="", help="why (kept in the result and its history)")
    add_source_args(c)
    c.set_defaults(handler=run_cancel)
    for p in (d, r, c):
        p.add_argument("--json", action="store_true", help="print versioned JSON")


def run_dispatch(args: argparse.Namespace) -> int:
    snap = load_snapshot(args)
    done = steering.dispatch(snap, args.file)
    what = (f"committed {done.spec_path} ({done.commit[:12]})" if done.committed
            else f"{done.spec_path} was already committed ({done.commit[:12]})")
    try:
        steering.push_dispatched(snap, done)
    except GitOpError as exc:
        raise GitOpError(f"{what}, but the push to {done.remote}/{done.branch} failed: {exc}\n"
                         f"(the commit is kept; push it with `git push {done.remote} "
                         f"HEAD:{done.branch}` once fixed)") from exc
    if args.json:
        print_json({"version": JSON_VERSION, "ok": True, "task": done.task_id,
                    "spec": done.spec_path, "commit": done.commit, "committed": done.committed,
                    "remote": done.remote, "branch": done.branch,
                    "result_branch": done.result_branch})
        return 0
    echo(f"dispatched {done.task_id}: {what}, pushed to {done.remote}/{done.branch}")
    echo(f"result will appear on branch {done.result_branch} of {done.remote}")
    return 0


def run_retry(args: argparse.Namespace) -> int:
    check_id("retry", args.id)
    snap = load_snapshot(args)
    run = steering.request_retry(snap, args.id)
    branch = refs.branch(args.id, run)
    if args.json:
        print_json({"version": JSON_VERSION, "ok": True, "task": args.id, "run": run,
                    "result_branch": branch, "remote": snap.remote})
        return 0
    echo(f"asked for run {run} of {args.id}; its result will appear on branch {branch} of "
         f"{snap.remote} (earlier results stay where they are)")
    return 0


def run_cancel(args: argparse.Namespace) -> int:
    check_id("cancel", args.id)
    snap = load_snapshot(args)
    requested = steering.request_cancel(snap, args.id, args.reason)
    if args.json:
        print_json({"version": JSON_VERSION, "ok": True, "task": args.id,
                    "requested": requested, "already_requested": not requested,
                    "reason": args.reason})
    elif requested:
        echo(f"asked the workers to cancel {args.id}; the worker running it stops it at its "
             "next poll (at once after `mtor-git poke` on its host), or before it starts")
    else:
        echo(f"a cancel of {args.id} was already requested")
    return 0
