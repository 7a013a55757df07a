"""A task's history as the remote shows it: every run, oldest first, with its result when done,
else what its claim chain carries so far (`mtor-git history`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mtor_git.client.board import Snapshot, read_result, result_branch, task_state
from mtor_git.queue.claims import Claim


@dataclass(frozen=True)
class RunHistory:
    """One run of a task: its result when done, else what the claim chain carries so far."""

    run: int
    branch: str
    state: str
    result: dict[str, Any] | None  # the stored result JSON, as written by the worker
    attempts: tuple[dict[str, Any], ...]  # Attempt.to_json() of each attempt, oldest first
    failure: dict[str, Any] | None
    claim: Claim | None = None  # the live or released claim of an unfinished run


def history(snap: Snapshot, task_id: str, *, now: float | None = None) -> tuple[RunHistory, ...]:
    """Every run of `task_id`, oldest first; the current run last, finished or not."""
    current = task_state(snap, task_id, now=now)
    out = []
    for run in sorted({*current.runs_done, current.run}):
        data = read_result(snap, task_id, run)
        if data is not None:
            attempts = data.get("attempts")
            failure = data.get("failure")
            out.append(RunHistory(
                run, result_branch(snap, task_id, run), str(data.get("status", "unknown")), data,
                tuple(a for a in attempts if isinstance(a, dict))
                if isinstance(attempts, list) else (),
                failure if isinstance(failure, dict) else None))
        elif run == current.run:
            claim = current.claim
            out.append(RunHistory(run, current.branch, current.state, None,
                                  tuple(a.to_json() for a in claim.carried_attempts)
                                  if claim else (), None, claim))
    return tuple(out)
