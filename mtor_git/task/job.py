"""The values one run of a claimed task takes and gives: the Job (which spec, at which commit,
which run, with the attempts earlier hand-backs carried), the Signals that stop it, and its
Outcome (a committed result, or a hand-back of the claim)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from mtor_git.agent.evidence import Attempt
from mtor_git.agent.progress import ProgressSink
from mtor_git.attempts import AttemptRecord
from mtor_git.config.model import RepoConfig
from mtor_git.task.result import Result


@dataclass(frozen=True)
class Job:
    """A claimed task: which spec, at which commit of the watched branch, which run."""

    repo: RepoConfig
    task_id: str
    spec_path: str
    run: int
    head: str
    carried_attempts: tuple[AttemptRecord, ...] = ()


@dataclass(frozen=True)
class Outcome:
    """What a job produced: a result committed on its local branch, or a hand-back."""

    result: Result | None
    commit: str | None
    release_reason: str | None = None
    not_before: float | None = None
    attempts: tuple[AttemptRecord, ...] = ()
    branch: str | None = None  # where `commit` goes: mtor/<id>, or the branch a follow-up continues


@dataclass(frozen=True)
class Signals:
    """Events that stop a running agent: a cancel request, the daemon's shutdown, a lost claim
    (the claim keeper sets `cancel` too, so the agent stops, and `lost`, so nothing publishes)."""

    cancel: threading.Event
    shutdown: threading.Event
    lost: threading.Event
    # Called as the agent is about to start, so the claim can say `running` instead of `claimed`.
    agent_starting: Callable[[], None] = lambda: None
    # What the running agent has done so far (agent/progress.py), for the claim to show.
    progress: ProgressSink | None = None
    # Each attempt as it ends (agent verify rounds too): its reported cost goes into the ledger.
    attempt_ended: Callable[[Attempt], None] | None = None
