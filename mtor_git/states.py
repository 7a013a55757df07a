"""Task states as enums. They are `StrEnum`s: each member equals, and serialises to JSON as, the
plain string the result, claim and status files have always held, so a file reads the same.

    TaskStatus          how one run of a task ended (Execution.status, Result.status)
    ├── succeeded ┐
    ├── failed    │
    ├── exhausted ├──   TERMINAL: the task is done; only `mtor-git retry` runs it again
    ├── rejected  │
    ├── cancelled ┘
    ├── interrupted     the worker shut down; the claim is released and the run continues
    └── parked          a usage limit or an open breaker: released until `resume_at`

    BoardState          what `mtor-git status` shows: pending, waiting (for dependencies),
                        claimed, running, interrupted, parked, deferred (the
                        daily budget is spent until its reset), the TERMINAL ones, ignored (not a
                        task id), unknown
"""

from __future__ import annotations

from enum import StrEnum


class TaskStatus(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    EXHAUSTED = "exhausted"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"
    PARKED = "parked"


# The one list of terminal statuses: the result, the board, steering and `watch` all use it.
TERMINAL: frozenset[TaskStatus] = frozenset({
    TaskStatus.SUCCEEDED, TaskStatus.FAILED, TaskStatus.EXHAUSTED, TaskStatus.REJECTED,
    TaskStatus.CANCELLED})
# What a result file's `status` may hold (its JSON schema's enum): a parked run writes none.
RESULT_STATUSES: tuple[TaskStatus, ...] = tuple(s for s in TaskStatus if s != TaskStatus.PARKED)


class BoardState(StrEnum):
    """A task's state on the board, in display order (also the order of the summary counts)."""

    PENDING = "pending"
    WAITING = "waiting"  # for dependencies (depends_on) that have not ended
    CLAIMED = "claimed"
    RUNNING = "running"
    INTERRUPTED = "interrupted"
    PARKED = "parked"
    DEFERRED = "deferred"  # the daily budget is spent: released until it resets
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    EXHAUSTED = "exhausted"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    IGNORED = "ignored"
    UNKNOWN = "unknown"

    @property
    def terminal(self) -> bool:
        return self.value in TERMINAL
