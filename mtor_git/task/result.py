"""The result of a task as a value, its JSON (`mtor-git/result/v1`) and its pull-request body.

Pure: built from the spec, the execution and the change summary; no git, no clock.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from typing import Any

from mtor_git.agent.evidence import Failure
from mtor_git.attempts import AttemptRecord, records
from mtor_git.durations import format_duration
from mtor_git.git.read import Changes, FileChange
from mtor_git.states import TERMINAL, TaskStatus
from mtor_git.task.verify import Verification

SCHEMA_ID = "mtor-git/result/v1"
LOCAL_BRANCH = "(local)"  # `mtor-git run`: the current worktree, nothing committed


@dataclass(frozen=True)
class TaskInfo:
    id: str
    spec_path: str
    spec_commit: str | None
    spec_sha256: str | None
    agent: str | None
    model: str | None = None
    title: str | None = None
    continues: str | None = None  # a follow-up: the task whose branch it continued


@dataclass(frozen=True)
class WorkerInfo:
    id: str
    host: str
    version: str
    pid: int


@dataclass(frozen=True)
class Result:
    """Everything a reader needs to know about one run of one task."""

    status: TaskStatus
    task: TaskInfo
    worker: WorkerInfo
    branch: str
    started_at: float
    finished_at: float
    model_invoked: bool | None
    run: int = 1  # 1 for the first run, N for `mtor-git retry` run N (branch mtor/<id>-rN)
    base_commit: str | None = None
    head_commit: str | None = None
    changes: Changes = field(default_factory=Changes)
    usage: dict[str, Any] = field(default_factory=dict)
    attempts: tuple[AttemptRecord, ...] = ()
    failure: Failure | None = None
    notes: tuple[str, ...] = ()
    sandbox: str = "none"  # how the attempts were confined: bwrap | none
    verification: Verification | None = None  # the `verify:` checks, when the task has any

    @property
    def verified(self) -> bool | None:
        """True when every verify command passed, False when one still fails, None when the
        task has none (or it never got as far as verifying)."""
        return None if self.verification is None else self.verification.verified

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    @property
    def summary(self) -> str | None:
        """The agent's own closing message (its report's `result_text`, already bounded and
        redacted) from the last attempt that has one."""
        for attempt in reversed(self.attempts):
            report = attempt.document.get("report")
            text = report.get("result_text") if isinstance(report, dict) else None
            if isinstance(text, str) and text.strip():
                return text.strip()
        return None

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA_ID,
            "status": self.status,
            "terminal": self.terminal,
            "model_invoked": self.model_invoked,
            "task": {"id": self.task.id, "spec_path": self.task.spec_path,
                     "spec_commit": self.task.spec_commit, "spec_sha256": self.task.spec_sha256,
                     "agent": self.task.agent, "model": self.task.model,
                     "title": self.task.title, "continues": self.task.continues},
            "worker": {"id": self.worker.id, "host": self.worker.host,
                       "version": self.worker.version, "pid": self.worker.pid},
            "run": self.run,
            "branch": self.branch,
            "base_commit": self.base_commit,
            "head_commit": self.head_commit,
            "changes": self.changes.to_json(),
            "started_at": _iso(self.started_at),
            "finished_at": _iso(self.finished_at),
            "duration": round(self.finished_at - self.started_at, 3),
            "usage": self.usage,
            "attempts": [a.to_json() for a in self.attempts],
            "failure": self.failure.to_json() if self.failure else None,
            "notes": list(self.notes),
            "sandbox": self.sandbox,
            "verified": self.verified,
            "verification": self.verification.to_json() if self.verification else None,
        }

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2, ensure_ascii=False) + "\n"

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Result:
        """The Result a `to_json()` wrote (raises KeyError/TypeError/ValueError otherwise)."""
        task, worker, changes = data["task"], data["worker"], data["changes"]
        failure = data.get("failure")
        return cls(
            status=TaskStatus(data["status"]), branch=data["branch"], run=int(data["run"]),
            task=TaskInfo(task["id"], task["spec_path"], task["spec_commit"],
                          task["spec_sha256"], task["agent"], task.get("model"),
                          task.get("title"), task.get("continues")),
            worker=WorkerInfo(worker["id"], worker["host"], worker["version"],
                              int(worker["pid"])),
            started_at=_epoch(data["started_at"]), finished_at=_epoch(data["finished_at"]),
            model_invoked=data["model_invoked"], base_commit=data.get("base_commit"),
            head_commit=data.get("head_commit"),
            changes=Changes(tuple(FileChange(f["path"], f["status"], f["insertions"],
                                             f["deletions"]) for f in changes["files"])),
            usage=dict(data.get("usage") or {}), attempts=records(data.get("attempts") or []),
            failure=Failure(**failure) if failure else None,
            notes=tuple(data.get("notes") or ()), sandbox=str(data.get("sandbox", "none")),
            verification=Verification.from_json(data["verification"])
            if data.get("verification") else None)


def load_schema() -> dict[str, Any]:
    text = resources.files("mtor_git").joinpath("schemas/result.schema.json").read_text()
    schema: dict[str, Any] = json.loads(text)
    return schema


def commit_message(result: Result) -> str:
    """Subject `mtor: <id> <status>` and the trailers of DESIGN §3."""
    title = f"\n\n{result.task.title}" if result.task.title else ""
    return (f"mtor: {result.task.id} {result.status}{title}\n\n"
            f"Mtor-Task: {result.task.id}\n"
            f"Mtor-Status: {result.status}\n"
            f"Mtor-Terminal: {'true' if result.terminal else 'false'}\n"
            f"Mtor-Attempts: {len(result.attempts)}\n"
            f"Mtor-Model-Invoked: {_tri(result.model_invoked)}\n")


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def _tri(value: bool | None) -> str:
    return "unknown" if value is None else ("yes" if value else "no")


_ICON = {"succeeded": "✅", "failed": "❌", "exhausted": "⏳", "rejected": "🚫",
         "cancelled": "⏹", "interrupted": "⚠"}


def pr_title(result: Result) -> str:
    return title_for(result.task.id, result.task.title, result.status)


def title_for(task_id: str, title: str | None, status: str) -> str:
    """The pull request's title, from a Result or from its JSON alike."""
    return f"mtor: {title or task_id} ({status})"


def pr_body(result: Result) -> str:
    """A Markdown summary fit for a pull-request body."""
    data = result.to_json()
    out = [f"## {_ICON.get(result.status, '')} `{result.task.id}` {result.status}".rstrip(), ""]
    if result.task.title:
        out += [f"**{result.task.title}**", ""]
    usage = result.usage or {}
    cost = usage.get("cost_usd")
    out += [
        f"- agent: `{result.task.agent}`" + (f", model `{result.task.model}`"
                                              if result.task.model else ""),
        f"- model invoked: **{_tri(result.model_invoked)}**",
        f"- duration: {format_duration(data['duration'])}, attempts: {len(result.attempts)}",
        f"- turns: {usage.get('turns') if usage.get('turns') is not None else 'n/a'}, cost: "
        + (f"${cost:.4f}" if isinstance(cost, int | float) else "n/a"),
        _where(result) + f", worker `{result.worker.id}` (mtor-git {result.worker.version})",
        "",
    ]
    if result.summary:
        out += ["### The agent's summary", "", *(f"> {line}".rstrip() for line in
                                                 result.summary.splitlines()), ""]
    out += _changes_md(result.changes)
    if result.verification is not None:
        out += _verification_md(result.verification)
    if result.failure:
        out += _failure_md(result.failure)
    if result.attempts:
        out += _attempts_md(result.attempts)
    for note in result.notes:
        out.append(f"> note: {note}")
    return "\n".join(out).rstrip() + "\n"


def _where(result: Result) -> str:
    base = f"`{result.base_commit[:12]}`" if result.base_commit else "an unknown commit"
    if result.branch == LOCAL_BRANCH:
        return f"- local run in the worktree at {base} (nothing committed)"
    return f"- branch `{result.branch}` from {base}"


def _changes_md(changes: Changes) -> list[str]:
    if not changes.files:
        return ["### What changed", "", "No files changed.", ""]
    out = ["### What changed", "",
           f"{len(changes.files)} file(s), +{changes.insertions} −{changes.deletions}", "",
           "| file | change | + | − |", "| --- | --- | ---: | ---: |"]
    shown = changes.files[:50]
    out += [f"| `{f.path}` | {f.status} | {f.insertions} | {f.deletions} |" for f in shown]
    if len(changes.files) > len(shown):
        out.append(f"| … {len(changes.files) - len(shown)} more | | | |")
    return [*out, ""]


def _verification_md(v: Verification) -> list[str]:
    mark = "verified" if v.verified else "**unverified**"
    out = [f"### Verification: {mark} ({v.rounds} round(s), {v.fix_rounds} fix round(s) "
           "allowed)", "", "| round | command | exit | duration | passed |",
           "| ---: | --- | --- | ---: | --- |"]
    for c in v.checks:
        ended = c.stopped_by or c.exit_code
        out.append(f"| {c.round} | `{c.command.replace('|', chr(92) + '|')}` | {ended} | "
                   f"{format_duration(c.duration)} | {'yes' if c.passed else 'no'} |")
    failed = v.first_failure
    if failed is not None and failed.output_tail:
        out += ["", f"<details><summary>output of `{failed.command}` (round {failed.round})"
                "</summary>", "", "```", failed.output_tail[-2000:], "```", "</details>"]
    return [*out, ""]


def _failure_md(failure: Failure) -> list[str]:
    out = ["### Why it stopped", "", f"**{failure.kind}**: {failure.message}", ""]
    if failure.rule:
        out.append(f"Rule: `{failure.rule}`")
    if failure.evidence:
        out += ["", "Evidence:", "", "```", failure.evidence.strip()[:2000], "```"]
    if failure.traceback:
        out += ["", "<details><summary>traceback</summary>", "", "```",
                failure.traceback.strip()[-4000:], "```", "</details>"]
    return [*out, ""]


def _attempts_md(attempts: tuple[AttemptRecord, ...]) -> list[str]:
    out = ["### Attempts", "", "| # | profile | exit | duration | model | verdict |",
           "| ---: | --- | --- | ---: | --- | --- |"]
    for a in attempts:
        exit_text = f"signal {a.signal}" if a.signal else str(a.exit_code)
        verdict = f"{a.kind} ({'transient' if a.transient else 'terminal'})"
        out.append(f"| {a.number} | {a.profile} | {exit_text} | "
                   f"{format_duration(float(a.duration or 0))} | {_tri(a.model_invoked)} | "
                   f"{verdict} |")
    return [*out, ""]
