"""`mtor-git status [<id>] [--json] [--remote R] [--branch B]` and `status --workers`.

JSON shape (version 1, printed on one line), `status`:
    {"version": 1, "remote": str, "url": str, "branch": str, "fetched_at": ISO-8601,
     "counts": {state: n}, "tasks": [TASK, ...]}
TASK:
    {"id", "state", "run", "branch", "runs_done": [int], "spec_present": bool,
     "cancel_requested": bool, "detail": str,
     "claim": null | {"worker", "host", "pid", "phase", "attempt", "since", "heartbeat",
                      "lease_expires", "lease_left", "reason", "not_before",
                      "carried_attempts": int},
     "result": null | {"status", "model_invoked", "finished_at", "duration", "attempts",
                       "failure_kind", "failure_message", "title", "head_commit", "branch"}}
state: pending | claimed | running | interrupted | parked | succeeded | failed | exhausted |
rejected | cancelled | unknown. Times are ISO-8601 UTC; lease_left is seconds (negative when
the lease expired). `status --workers --json`:
    {"version": 1, "status_file": str, "found": bool, "heartbeat_age": float | null,
     "worker": <the daemon's status.json as written>}
"""

from __future__ import annotations

import argparse
import json
import textwrap
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mtor_git import paths
from mtor_git.cli.common import collector_paused, open_repo, print_json
from mtor_git.cli.output import echo
from mtor_git.client import board
from mtor_git.durations import format_duration
from mtor_git.errors import UnknownTask, UsageError
from mtor_git.states import BoardState

JSON_VERSION = 1
WIDTH = 80
_ID_MAX = 28


def add_source_args(p: argparse.ArgumentParser) -> None:
    """--remote/--branch/--tasks-dir: which remote's board to read (shared by reading verbs)."""
    p.add_argument("--remote", help="remote to read (default: the current branch's upstream "
                   "remote, else origin)")
    p.add_argument("--branch", help="branch the workers watch (default: the current branch's "
                   "upstream, else the current branch)")
    p.add_argument("--tasks-dir", default="tasks")


def load_snapshot(args: argparse.Namespace) -> board.Snapshot:
    repo = open_repo()
    remote = args.remote or board.default_remote(repo)
    branch = args.branch or board.default_branch(repo, remote)
    return board.sync(repo, remote, branch, args.tasks_dir)


def add_parser(sub: Any) -> None:
    p = sub.add_parser("status", help="every task's state, read from the remote's refs")
    p.add_argument("id", nargs="?", help="one task, in detail")
    p.add_argument("--json", action="store_true", help="print versioned JSON")
    p.add_argument("--workers", action="store_true",
                   help="this host's daemon: heartbeat, polls, running tasks, breakers")
    p.add_argument("--config", type=Path, help="daemon configuration (for --workers)")
    add_source_args(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if args.workers:
        return _workers(args)
    with collector_paused():
        return _board(args)


def _board(args: argparse.Namespace) -> int:
    snap = load_snapshot(args)
    now = time.time()
    if args.id is not None:
        state = board.task_state(snap, args.id, now=now)
        if state.state == BoardState.UNKNOWN and not state.spec_present and state.claim is None \
                and not state.runs_done:
            raise UnknownTask(f"status: no task {args.id!r} on {snap.remote}/{snap.view.branch}")
        states = [state]
    else:
        states = board.board(snap, now=now)
    if args.json:
        # One line: the C encoder, ten times faster than an indented dump on a big board.
        print(json.dumps(snapshot_json(snap, states, now), ensure_ascii=False))
    elif args.id is not None:
        echo("\n".join(detail_lines(states[0], now)))
    else:
        echo("\n".join(table_lines(snap, states, now)))
    return 0


# -- JSON --------------------------------------------------------------------------------------
def iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds").replace(
        "+00:00", "Z")


def snapshot_json(snap: board.Snapshot, states: list[board.TaskState],
                  now: float) -> dict[str, Any]:
    return {"version": JSON_VERSION, "remote": snap.remote, "url": snap.url,
            "branch": snap.view.branch, "fetched_at": iso(snap.taken_at),
            "counts": board.counts(states), "tasks": [task_json(s, now) for s in states]}


def task_json(s: board.TaskState, now: float) -> dict[str, Any]:
    c, r = s.claim, s.result
    return {
        "id": s.id, "state": s.state, "run": s.run, "branch": s.branch,
        "runs_done": list(s.runs_done), "spec_present": s.spec_present,
        "cancel_requested": s.cancel_requested, "detail": s.detail,
        "claim": None if c is None else {
            "worker": c.worker, "host": c.host, "pid": c.pid, "phase": c.phase,
            "attempt": c.attempt, "since": iso(s.claimed_since), "heartbeat": iso(c.heartbeat),
            "lease_expires": iso(c.lease_expires), "lease_left": round(c.lease_expires - now, 1),
            "reason": c.reason, "not_before": iso(c.not_before),
            "carried_attempts": len(c.carried_attempts), "progress": c.progress},
        "result": None if r is None else {
            "status": r.status, "model_invoked": r.model_invoked, "finished_at": r.finished_at,
            "duration": r.duration, "attempts": r.attempts, "failure_kind": r.failure_kind,
            "failure_message": r.failure_message, "title": r.title,
            "head_commit": r.head_commit, "branch": r.where},
    }


# -- text --------------------------------------------------------------------------------------
def ago(epoch: float | None, now: float) -> str:
    return "?" if epoch is None else f"{format_duration(max(now - epoch, 0))} ago"


def parse_iso(text: str | None) -> float | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def tri(value: bool | None) -> str:
    return "unknown" if value is None else ("yes" if value else "no")


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def describe(s: board.TaskState, now: float) -> str:
    """The one-line detail of a task's row."""
    c, r = s.claim, s.result
    if r is not None:
        parts = [] if s.state == BoardState.SUCCEEDED else [r.failure_kind or s.state]
        parts += [f"model {tri(r.model_invoked)}", plural(r.attempts, "attempt"),
                  ago(parse_iso(r.finished_at), now)]
        return ", ".join(parts)
    text = s.detail or ("waiting for a worker" if s.state == BoardState.PENDING else "")
    if c is not None and s.state in (BoardState.CLAIMED, BoardState.RUNNING):
        left = c.lease_expires - now
        lease = (f"lease {format_duration(left)}" if left >= 0
                 else f"lease expired {format_duration(-left)} ago")
        number = (c.progress or {}).get("attempt") or c.attempt  # the progress knows retries
        attempt = f", attempt {number}" if number else ""
        text = f"{c.worker} for {format_duration(max(now - (s.claimed_since or now), 0))}" \
               f"{attempt}, {lease}"
        if c.progress:
            text = f"{text}; {progress_text(c.progress, now)}"
    elif c is not None and s.state == BoardState.PARKED:
        text = f"until {iso(c.not_before)} (in {format_duration((c.not_before or now) - now)})"
    elif c is not None and s.state == BoardState.DEFERRED:
        text = f"{s.detail} (in {format_duration((c.not_before or now) - now)})"
    elif c is not None and s.state == BoardState.INTERRUPTED:
        text = f"on {c.worker}, {plural(len(c.carried_attempts), 'attempt')} so far"
    if s.cancel_requested:
        text = f"{text}, cancel requested" if text else "cancel requested"
    return text


def progress_text(p: Mapping[str, Any], now: float) -> str:
    """The running agent's progress in one phrase: turn 3, 5 tool calls (last Edit x.py),
    12,345 tokens, $0.0123, 2 CLI retries, active 4s ago."""
    parts: list[str] = []
    if isinstance(p.get("turns"), int):
        parts.append(f"turn {p['turns']}")
    if isinstance(p.get("tool_calls"), int):
        last = " ".join(str(p[k]) for k in ("last_tool", "last_file") if p.get(k))
        parts.append(plural(p["tool_calls"], "tool call") + (f" (last {last})" if last else ""))
    tokens = [p.get(k) for k in ("input_tokens", "output_tokens")]
    if all(isinstance(t, int) for t in tokens) and any(tokens):
        parts.append(f"{sum(t for t in tokens if isinstance(t, int)):,} tokens")
    if isinstance(p.get("cost_usd"), int | float):
        parts.append(f"${p['cost_usd']:.4f}" + (" (estimated)" if p.get("cost_estimated")
                                                  else ""))
    retries = p.get("cli_retries")
    count = retries.get("count") if isinstance(retries, dict) else retries
    if isinstance(count, int) and count:
        parts.append(plural(count, "CLI retry").replace("retrys", "retries"))
    if not parts and isinstance(p.get("output_bytes"), int):
        parts.append(f"{p['output_bytes']:,} bytes of output")
    if isinstance(p.get("last_activity"), int | float):
        parts.append(f"active {ago(p['last_activity'], now)}")
    return ", ".join(parts)


def table_lines(snap: board.Snapshot, states: list[board.TaskState], now: float) -> list[str]:
    tally = ", ".join(f"{n} {k}" for k, n in board.counts(states).items()) or "no tasks"
    head = f"{snap.remote}/{snap.view.branch}: {len(states)} task(s): {tally}"
    if snap.view.head is None:
        head += f" (branch {snap.view.branch} is not on {snap.remote})"
    idw = min(max([4, *(len(s.id) for s in states)]), _ID_MAX)
    rest = WIDTH - idw - 11 - 3 - 6
    lines = textwrap.wrap(head, WIDTH, subsequent_indent="  ")
    lines.append(f"{'TASK':<{idw}}  {'STATE':<11}  {'RUN':>3}  DETAIL")
    for s in states:
        lines.append(f"{_clip(s.id, idw):<{idw}}  {s.state:<11}  {s.run:>3}  "
                     f"{_clip(describe(s, now), rest)}".rstrip())
    return lines


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[:width - 1] + "…"


def detail_lines(s: board.TaskState, now: float) -> list[str]:
    c, r = s.claim, s.result
    rows = [("task", s.id), ("state", f"{s.state} (run {s.run}, branch {s.branch})"),
            ("detail", describe(s, now)),
            ("spec", "on the watched branch" if s.spec_present else "not on the watched branch")]
    if s.runs_done:
        rows.append(("runs done", ", ".join(str(n) for n in s.runs_done)))
    if c is not None:
        rows += [("worker", f"{c.worker} on {c.host} (pid {c.pid}), phase {c.phase}"),
                 ("since", f"{iso(s.claimed_since)} ({ago(s.claimed_since, now)})"),
                 ("heartbeat", f"{iso(c.heartbeat)} ({ago(c.heartbeat, now)})"),
                 ("lease", f"until {iso(c.lease_expires)}")]
        if c.reason:
            rows.append(("released", c.reason))
    if r is not None:
        rows += [("result", f"{r.status} on {r.where}"), ("title", r.title or "-"),
                 ("model", tri(r.model_invoked)), ("attempts", str(r.attempts)),
                 ("finished", f"{r.finished_at} ({ago(parse_iso(r.finished_at), now)})")]
        if r.failure_kind:
            rows.append(("failure", f"{r.failure_kind}: {r.failure_message or ''}"))
    return [f"{k:<10} {v}" for k, v in rows]


# -- the local daemon --------------------------------------------------------------------------
def _workers(args: argparse.Namespace) -> int:
    from mtor_git.config.load import load_config
    from mtor_git.worker.daemon import STATUS_NAME, status_name

    config = load_config(args.config) if args.config else None
    state_dir = config.state_dir if config else paths.state_dir()
    path = state_dir / STATUS_NAME
    if config is not None and (state_dir / status_name(config.worker_id)).exists():
        path = state_dir / status_name(config.worker_id)  # this config's own worker
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        data = None
    except (OSError, ValueError) as exc:
        raise UsageError(f"status --workers: cannot read {path}: {exc}") from None
    now = time.time()
    beat = data.get("heartbeat") if isinstance(data, dict) else None
    age = now - beat if isinstance(beat, int | float) else None
    if args.json:
        print_json({"version": JSON_VERSION, "status_file": str(path), "found": data is not None,
                    "heartbeat_age": None if age is None else round(age, 1), "worker": data})
        return 0 if data is not None else 1
    if not isinstance(data, dict):
        echo(f"no daemon status at {path} (is a daemon running on this host with this "
             "configuration?)")
        return 1
    echo("\n".join(worker_lines(data, now)))
    return 0


def _budget_lines(b: object) -> list[str]:
    """Today's spending against the daily caps (worker/ledger.py)."""
    if not isinstance(b, dict):
        return []

    def spent(v: dict[str, Any]) -> str:
        cap = v.get("daily_usd")
        return f"${float(v.get('spent') or 0):.4f}" + (f" of ${cap:.2f}" if cap else " (no cap)")

    out = [f"budget    {spent(b)} spent on {b.get('day')}, resets at {iso(b.get('resets_at'))}"]
    profiles = b.get("profiles")
    for name, v in (profiles.items() if isinstance(profiles, dict) else []):
        if isinstance(v, dict):
            out.append(f"  {name}: {spent(v)}")
    return out


def worker_lines(d: dict[str, Any], now: float) -> list[str]:
    def at(key: str) -> str:
        v = d.get(key)
        return f"{iso(v)} ({ago(v, now)})" if isinstance(v, int | float) else "never"

    state = "stopped" if d.get("stopped") else "running"
    out = [f"worker    {d.get('worker_id')} on {d.get('host')} (pid {d.get('pid')}, "
           f"mtor-git {d.get('version')}), {state}",
           f"heartbeat {at('heartbeat')}", f"last poll {at('last_poll')}",
           f"started   {at('started_at')}"]
    if d.get("last_error"):
        out.append(f"error     {d['last_error']}")
    out += _budget_lines(d.get("budget"))
    running = d.get("running") or []
    out.append(f"running   {len(running)} task(s)")
    out += [f"  {r.get('task')} run {r.get('run')} ({r.get('profile')}, {r.get('repo')})"
            for r in running if isinstance(r, dict)]
    recent = [r for r in (d.get("recent") or []) if isinstance(r, dict)][-10:]
    out.append(f"recent    {len(recent)} outcome(s), newest last")
    out += [_outcome(r, now) for r in recent]
    raw = d.get("breakers")
    breakers: dict[str, Any] = raw if isinstance(raw, dict) else {}
    out.append(f"breakers  {len(breakers)} agent profile(s)")
    out += [_breaker(str(name), b, now) for name, b in breakers.items() if isinstance(b, dict)]
    return out


def _outcome(r: dict[str, Any], now: float) -> str:
    at = r.get("at")
    extra = [f"{r['kind']}"] if r.get("kind") else []
    if "model_invoked" in r:
        extra.append(f"model {tri(r.get('model_invoked'))}")
    if isinstance(r.get("attempts"), int):
        extra.append(plural(r["attempts"], "attempt"))
    when = ago(at, now) if isinstance(at, int | float) else "?"
    return (f"  {r.get('task')} run {r.get('run')}: {r.get('status')}"
            + (f" ({', '.join(extra)})" if extra else "") + f", {when}")


def _breaker(name: str, b: dict[str, Any], now: float) -> str:
    text = f"  {name}: {b.get('state')}, {b.get('consecutive_failures')} consecutive failure(s)"
    if b.get("last_kind"):
        text += f", last {b['last_kind']}"
    half_open = b.get("half_open_at")
    if b.get("state") == "open" and isinstance(half_open, int | float):
        text += f", probes again in {format_duration(max(half_open - now, 0))}"
    return text
