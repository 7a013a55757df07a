"""`mtor-git result <id>`, `history <id>` and `pr <id>`: a task's outcome, every attempt with its
evidence, and its pull-request title and body -- all read from the remote's result files.

JSON shapes (version 1):
  result --json:  {"version": 1, "task": str, "run": int, "branch": str,
                   "result": <results/<id>.json as the worker wrote it, mtor-git/result/v1>}
  history --json: {"version": 1, "task": str, "state": str, "runs": [RUN, ...]}
     RUN:         {"run": int, "branch": str, "state": str, "done": bool,
                   "model_invoked": bool | null, "failure": {kind, message, rule, evidence,
                   traceback} | null, "attempts": [<Attempt JSON as stored>, ...],
                   "claim": null | {"worker", "host", "phase", "reason", "attempt",
                                    "heartbeat", "not_before"}}
  pr --json:      {"version": 1, "task": str, "run": int, "title": str, "body": str}
Exit codes: `result` 0 when the run succeeded, 1 otherwise (failed, or no result yet); `history`
and `pr` 0 when they printed something, 1 when there is nothing to show.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from typing import Any

from mtor_git.cli.common import check_id, print_json
from mtor_git.cli.output import echo
from mtor_git.cli.status import add_source_args, iso, load_snapshot, plural, tri
from mtor_git.client import board
from mtor_git.client.history import RunHistory, history
from mtor_git.durations import format_duration
from mtor_git.errors import NothingToShow, UnknownTask
from mtor_git.states import BoardState, TaskStatus
from mtor_git.task.result import title_for

JSON_VERSION = 1
_TAIL_LINES = 12
_LINE_MAX = 400  # characters of one output line shown (--json has them whole)


def add_parser(sub: Any) -> None:
    for name, handler, text in (
            ("result", run_result, "a task's result summary"),
            ("history", run_history, "every attempt of a task, with its evidence"),
            ("pr", run_pr, "a task's pull-request title and body")):
        p = sub.add_parser(name, help=text)
        p.add_argument("id")
        p.add_argument("--run", type=int, help="which run (default: the latest with a result)")
        p.add_argument("--json", action="store_true", help="print versioned JSON")
        add_source_args(p)
        p.set_defaults(handler=handler)


def _unknown(state: board.TaskState) -> bool:
    return (state.state == BoardState.UNKNOWN and not state.spec_present
            and not state.runs_done and state.claim is None)


def _pick_run(snap: board.Snapshot, task_id: str, wanted: int | None,
              verb: str) -> tuple[int, dict[str, Any]]:
    """The run to show and its stored result; UnknownTask or NothingToShow when none."""
    check_id(verb, task_id)
    state = board.task_state(snap, task_id)
    if _unknown(state):
        raise UnknownTask(f"{verb}: no task {task_id!r} on {snap.remote}/{snap.view.branch}")
    runs = [wanted] if wanted is not None else sorted({*state.runs_done, state.run},
                                                       reverse=True)
    for run in runs:
        data = board.read_result(snap, task_id, run)
        if data is not None:
            if run != state.run:
                echo(f"mtor-git: run {state.run} of {task_id} is {state.state}; showing run "
                     f"{run}", file=sys.stderr)
            return run, data
    which = f"run {wanted} of " if wanted is not None else ""
    raise NothingToShow(f"{verb}: no result for {which}{task_id} on {snap.remote} yet (state: "
                        f"{state.state})")


# -- result ------------------------------------------------------------------------------------
def run_result(args: argparse.Namespace) -> int:
    snap = load_snapshot(args)
    run, data = _pick_run(snap, args.id, args.run, "result")
    if args.json:
        print_json({"version": JSON_VERSION, "task": args.id, "run": run,
                    "branch": board.result_branch(snap, args.id, run), "result": data})
    else:
        echo("\n".join(result_lines(data)))
    return 0 if data.get("status") == TaskStatus.SUCCEEDED else 1


def shown(value: object, missing: str = "n/a") -> str:
    """A stored value for text output: never a literal `None`."""
    return missing if value is None else str(value)


def result_lines(d: dict[str, Any]) -> list[str]:
    task, worker = d.get("task") or {}, d.get("worker") or {}
    changes, failure = d.get("changes") or {}, d.get("failure")
    usage = d.get("usage") or {}
    title = f" -- {task.get('title')}" if task.get("title") else ""
    rows = [
        ("task", f"{task.get('id')}{title}"),
        ("status", f"{shown(d.get('status'), '?')} "
                   f"({'terminal' if d.get('terminal') else 'resumable'}), "
                   f"run {shown(d.get('run'), '1')}, branch {shown(d.get('branch'), '?')}"),
        ("model", f"invoked: {tri(d.get('model_invoked'))}; agent "
                  f"{shown(task.get('agent'), 'default')}"
                  + (f", model {task.get('model')}" if task.get("model") else "")),
        ("attempts", f"{len(d.get('attempts') or [])} (details: mtor-git history "
                     f"{task.get('id')})"),
        ("duration", f"{format_duration(float(d.get('duration') or 0))}, finished "
                     f"{shown(d.get('finished_at'))}"),
        ("usage", f"turns {shown(usage.get('turns'))}, cost "
                  + (f"${usage['cost_usd']:.4f}" if isinstance(usage.get("cost_usd"), int | float)
                     else "n/a")),
        ("changes", f"{changes.get('files_changed', 0)} file(s), +{changes.get('insertions', 0)}"
                    f" -{changes.get('deletions', 0)}"),
        ("commits", f"{shown(d.get('base_commit'), '?')[:12]}.."
                    f"{shown(d.get('head_commit'), '?')[:12]}"),
        ("worker", f"{shown(worker.get('id'), '?')} on {shown(worker.get('host'), '?')} "
                   f"(mtor-git {shown(worker.get('version'), '?')})"),
    ]
    lines = [f"{k:<9} {v}" for k, v in rows]
    summary = agent_summary(d)
    if summary:
        lines += field("", "summary", summary)
    if isinstance(failure, dict):
        lines += failure_lines(failure, indent="")
    return lines


def agent_summary(d: dict[str, Any]) -> str | None:
    """The agent's closing message: the last attempt's report `result_text`."""
    for attempt in reversed(d.get("attempts") or []):
        report = attempt.get("report") if isinstance(attempt, dict) else None
        text = report.get("result_text") if isinstance(report, dict) else None
        if isinstance(text, str) and text.strip():
            return text.strip()
    return None


def failure_lines(f: dict[str, Any], *, indent: str) -> list[str]:
    out = field(indent, "failure", f"{shown(f.get('kind'), '?')}: {shown(f.get('message'), '')}")
    if f.get("rule"):
        out += field(indent + "  ", "rule", str(f["rule"]))
    if f.get("evidence"):
        out += field(indent + "  ", "evidence", str(f["evidence"]))
    if f.get("traceback"):
        out += field(indent + "  ", "traceback", str(f["traceback"]), tail=40)
    return out


def field(indent: str, name: str, text: str, *, tail: int = _TAIL_LINES) -> list[str]:
    """`name  text` on one line when it fits, else `name:` and the last `tail` lines below."""
    lines = text.rstrip("\n").splitlines() or [""]
    if len(lines) == 1 and len(indent) + 10 + len(lines[0]) <= 100:
        return [f"{indent}{name:<9} {lines[0]}".rstrip()]
    dropped = len(lines) - tail
    shown = lines[-tail:] if dropped > 0 else lines
    note = f" (last {tail} of {len(lines)} lines)" if dropped > 0 else ""
    return [f"{indent}{name}:{note}"] + [f"{indent}  | {_cut(line)}".rstrip() for line in shown]


def _cut(line: str, width: int = _LINE_MAX) -> str:
    return line if len(line) <= width else f"{line[:width]}… ({len(line)} characters)"


# -- history -----------------------------------------------------------------------------------
def run_history(args: argparse.Namespace) -> int:
    check_id("history", args.id)
    snap = load_snapshot(args)
    runs = history(snap, args.id)
    if args.run is not None:
        runs = tuple(r for r in runs if r.run == args.run)
    state = board.task_state(snap, args.id)
    if _unknown(state):
        raise UnknownTask(f"history: no task {args.id!r} on {snap.remote}/{snap.view.branch}")
    if not runs:
        raise NothingToShow(f"history: no history for {args.id} on {snap.remote}")
    if args.json:
        print_json({"version": JSON_VERSION, "task": args.id, "state": state.state,
                    "runs": [run_json(r) for r in runs]})
        return 0
    out: list[str] = []
    for r in runs:
        out += history_lines(r)
    echo("\n".join(out).rstrip())
    return 0


def run_json(r: RunHistory) -> dict[str, Any]:
    c = r.claim
    return {"run": r.run, "branch": r.branch, "state": r.state, "done": r.result is not None,
            "model_invoked": (r.result or {}).get("model_invoked"), "failure": r.failure,
            "attempts": list(r.attempts),
            "claim": None if c is None else {
                "worker": c.worker, "host": c.host, "phase": c.phase, "reason": c.reason,
                "attempt": c.attempt, "heartbeat": iso(c.heartbeat),
                "not_before": iso(c.not_before)}}


def history_lines(r: RunHistory) -> list[str]:
    if r.result is not None:
        head = (f"run {r.run} on {r.branch}: {r.state}, model invoked "
                f"{tri(r.result.get('model_invoked'))}, {plural(len(r.attempts), 'attempt')}")
    else:
        c = r.claim
        holder = f" ({c.phase} by {c.worker}{', ' + c.reason if c.reason else ''})" if c else ""
        head = (f"run {r.run} (not finished): {r.state}{holder}, "
                f"{plural(len(r.attempts), 'attempt')} so far")
    out = [head]
    for a in r.attempts:
        out += attempt_lines(a)
    if r.failure is not None:
        out += failure_lines(r.failure, indent="  ")
    if r.result is not None and not r.attempts and r.failure is None:
        out.append("  no attempts recorded")
    return [*out, ""]


def attempt_lines(a: dict[str, Any]) -> list[str]:
    cls = a.get("classification") or {}
    if a.get("signal"):
        ended = f"signal {a['signal']}" + (f" ({a['stopped_by']})" if a.get("stopped_by") else "")
    else:
        ended = f"exit {shown(a.get('exit_code'), 'code unknown (never started)')}"
    argv = a.get("argv") or []
    out = [f"  attempt {a.get('number')}: {a.get('profile')}, {ended}, "
           f"{format_duration(float(a.get('duration') or 0))}, model invoked "
           f"{tri(a.get('model_invoked'))}",
           f"    verdict   {shown(cls.get('kind'), '?')} "
           f"({'transient' if cls.get('transient') else 'terminal'}) by rule "
           f"{shown(cls.get('rule'), '?')}"]
    if cls.get("evidence"):
        out += field("    ", "evidence", str(cls["evidence"]))
    out += [f"    argv      {shlex.join(str(x) for x in argv)}",
            f"    cwd       {shown(a.get('cwd'), '?')}"]
    if a.get("env_names"):
        out.append(f"    env       {', '.join(a['env_names'])}")
    if a.get("spawn_error"):
        out.append(f"    spawn     {a['spawn_error']}")
    out += event_lines(a.get("events"))
    for stream in ("stdout", "stderr"):
        out += _stream_lines(stream, a.get(stream))
    return out


def event_lines(log: object) -> list[str]:
    """The attempt's bounded event log (the first and last events its stream gave)."""
    if not isinstance(log, dict) or not isinstance(log.get("totals"), dict):
        return []
    t = log["totals"]
    cost = t.get("cost_usd")
    summary = (f"{t.get('events', 0)} events, {t.get('turns', 0)} turns, "
               f"{t.get('tool_calls', 0)} tool calls"
               + (f", ${cost:.4f}" if isinstance(cost, int | float) else ""))
    shown_events = [e for part in ("head", "tail") for e in log.get(part) or []
                    if isinstance(e, dict)]
    dropped = log.get("dropped") or 0
    lines = [f"    events    {summary}"]
    for i, e in enumerate(shown_events):
        if dropped and i == len(log.get("head") or []):
            lines.append(f"      … {dropped} events not kept")
        at = e.get("at")
        when = f"{at:7.1f}s" if isinstance(at, int | float) else "       ?"
        lines.append(_cut(f"      {when} {e.get('kind', '?'):<10} {e.get('summary', '')}"))
    return lines


def _stream_lines(name: str, cap: object) -> list[str]:
    if not isinstance(cap, dict):
        return []
    size = f"{cap.get('bytes', 0)} bytes{', middle dropped' if cap.get('truncated') else ''}"
    text = f"{cap.get('head', '')}{cap.get('tail', '')}"
    if not text.strip():
        return field("    ", name, size)
    lines = field("    ", name, text)
    if len(lines) == 1:
        return field("    ", name, f"{size}: {text.strip()}")
    return [f"{lines[0]} {size}", *lines[1:]]


# -- pr ----------------------------------------------------------------------------------------
def run_pr(args: argparse.Namespace) -> int:
    snap = load_snapshot(args)
    run, data = _pick_run(snap, args.id, args.run, "pr")
    task = data.get("task") or {}
    title = title_for(args.id, task.get("title"), str(data.get("status")))
    body = board.read_result_md(snap, args.id, run)
    if body is None:
        raise NothingToShow(f"pr: no {args.id}.md beside the result of run {run}")
    if args.json:
        print_json({"version": JSON_VERSION, "task": args.id, "run": run, "title": title,
                    "body": body})
    else:
        echo(f"{title}\n\n{body.rstrip()}")
    return 0
