"""`mtor-git watch <id> [--timeout D]`: follow a task live until it ends.

Prints one line per change of state (with the time since the watch began); exits 0 on
`succeeded`, 1 on any other terminal state (or an unknown task), 124 on timeout.
`--json` prints one object per change: {"version": 1, "elapsed": float, "task": <status TASK>}.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from mtor_git.cli.common import check_id, open_repo
from mtor_git.cli.output import echo
from mtor_git.cli.status import add_source_args, describe, task_json
from mtor_git.client import board
from mtor_git.durations import format_duration, parse_duration
from mtor_git.errors import GitOpError, TimedOut, UnknownTask, UsageError
from mtor_git.states import BoardState

EXIT_TIMEOUT = 124


def add_parser(sub: Any) -> None:
    p = sub.add_parser("watch", help="follow a task until it ends (exit 0 on succeeded)")
    p.add_argument("id")
    p.add_argument("--timeout", help="give up after this long (90s, 20m, 1h); exit 124")
    p.add_argument("--interval", default="2s", help="how often to fetch (default 2s)")
    p.add_argument("--json", action="store_true", help="one JSON object per change")
    add_source_args(p)
    p.set_defaults(handler=run)


def _duration(text: str | None, flag: str) -> float | None:
    if text is None:
        return None
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise UsageError(f"watch: {flag}: {exc}") from None


def run(args: argparse.Namespace) -> int:
    check_id("watch", args.id)
    timeout = _duration(args.timeout, "--timeout")
    interval = max(_duration(args.interval, "--interval") or 2.0, 0.05)
    repo = open_repo()
    remote = args.remote or board.default_remote(repo)
    branch = args.branch or board.default_branch(repo, remote)
    start = time.monotonic()
    last: tuple[object, ...] | None = None
    while True:
        elapsed = time.monotonic() - start
        state = _poll(repo, remote, branch, args, first=last is None)
        if state is not None:
            if last is None and _unknown(state):
                raise UnknownTask(f"watch: no task {args.id!r} on {remote}/{branch}")
            key = _key(state)
            if key != last:
                _show(state, elapsed, args.json)
                last = key
            if state.state.terminal:
                return 0 if state.state == BoardState.SUCCEEDED else 1
        if timeout is not None and time.monotonic() - start >= timeout:
            raise TimedOut(f"watch: {args.id} still {state.state if state else 'unknown'} "
                           f"after {format_duration(timeout)}")
        remaining = None if timeout is None else timeout - (time.monotonic() - start)
        time.sleep(interval if remaining is None else max(min(interval, remaining), 0))


def _poll(repo: Any, remote: str, branch: str, args: argparse.Namespace, *,
          first: bool) -> board.TaskState | None:
    try:
        snap = board.sync(repo, remote, branch, args.tasks_dir)
    except GitOpError as exc:
        if first:
            raise
        echo(f"mtor-git: watch: {exc} (trying again)", file=sys.stderr)
        return None
    return board.task_state(snap, args.id)


def _unknown(s: board.TaskState) -> bool:
    return (s.state == BoardState.UNKNOWN and not s.spec_present and s.claim is None
            and not s.runs_done)


def _key(s: board.TaskState) -> tuple[object, ...]:
    c = s.claim
    progress = c.progress if c else None
    # A change of the agent's progress is a change too (turn by turn), but not its clock.
    moved = {k: v for k, v in progress.items() if k != "last_activity"} if progress else None
    return (s.state, s.run, s.cancel_requested, c.worker if c else None,
            c.attempt if c else None, c.phase if c else None,
            json.dumps(moved, sort_keys=True))


def _show(s: board.TaskState, elapsed: float, as_json: bool) -> None:
    now = time.time()
    if as_json:
        print(json.dumps({"version": 1, "elapsed": round(elapsed, 3), "task": task_json(s, now)}),
              flush=True)
        return
    echo(f"[{format_duration(elapsed):>6}] {s.id} {s.state} (run {s.run}): "
         f"{describe(s, now)}", flush=True)
