"""`mtor-git dispatch <file>`, `retry <id>` and `cancel <id>`: the user's steering verbs."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from mtor_git.cli.output import echo
from mtor_git.cli.status import add_source_args, load_snapshot
from mtor_git.client import steering
from mtor_git.errors import GitOpError
from mtor_git.git import refs


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
    c.add_argument("--reason", default="", help="why (kept in the request)")
    add_source_args(c)
    c.set_defaults(handler=run_cancel)


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
    echo(f"dispatched {done.task_id}: {what}, pushed to {done.remote}/{done.branch}")
    echo(f"result will appear on branch {done.result_branch} of {done.remote}")
    return 0


def run_retry(args: argparse.Namespace) -> int:
    snap = load_snapshot(args)
    run = steering.request_retry(snap, args.id)
    branch = refs.branch(args.id, run)
    echo(f"asked for run {run} of {args.id}; its result will appear on branch {branch} of "
         f"{snap.remote} (earlier results stay where they are)")
    return 0


def run_cancel(args: argparse.Namespace) -> int:
    snap = load_snapshot(args)
    if steering.request_cancel(snap, args.id, args.reason):
        echo(f"asked the workers to cancel {args.id}; it ends as `cancelled` at the next "
             "heartbeat of the worker running it (or before it starts)")
    else:
        echo(f"a cancel of {args.id} was already requested")
    return 0
