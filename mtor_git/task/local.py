"""`mtor-git run`: one spec's agent in the current worktree, with exactly the daemon's preflight,
classification and retry policy, but no claim, no commit and no push."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Mapping
from pathlib import Path

from mtor_git import __version__, git
from mtor_git.agent.sandbox import NO_SANDBOX, Sandbox
from mtor_git.config.model import Config
from mtor_git.git.read import Changes
from mtor_git.retry.budget import Budget
from mtor_git.retry.loop import ExecuteRequest, execute
from mtor_git.retry.policy import BreakerBoard
from mtor_git.spec.parse import read_spec_file
from mtor_git.states import TaskStatus
from mtor_git.task.refusals import profile_refusal
from mtor_git.task.result import LOCAL_BRANCH, Result, TaskInfo, WorkerInfo


def run_local(spec_file: Path, config: Config, cwd: Path, environ: Mapping[str, str], *,
              cancel: threading.Event | None = None, sandbox: Sandbox = NO_SANDBOX) -> Result:
    spec = read_spec_file(spec_file, max_bytes=config.max_spec_bytes)
    agent = spec.agent or config.default_agent
    info = TaskInfo(id=spec.id, spec_path=str(spec_file), spec_commit=None,
                    spec_sha256=spec.sha256, agent=agent, model=spec.model, title=spec.title)
    worker = WorkerInfo(id=config.worker_id, host=socket.gethostname(), version=__version__,
                        pid=os.getpid())
    started = time.time()
    repo = git.discover(cwd)
    base = git.head_of(repo)[1] if repo is not None else None
    refusal = profile_refusal(spec, config)
    if refusal is not None:
        return Result(status=TaskStatus.REJECTED, task=info, worker=worker, branch=LOCAL_BRANCH,
                      started_at=started, finished_at=time.time(), model_invoked=False,
                      failure=refusal, sandbox=sandbox.mode, base_commit=base)
    timeout = min(spec.timeout or config.default_timeout, config.max_timeout)
    execution = execute(ExecuteRequest(
        prompt=spec.prompt, profile_name=agent, profiles=config.agents, cwd=cwd,
        policy=config.retry, environ=environ, breakers=BreakerBoard(config.retry),
        model=spec.model, timeout=timeout,
        budget=Budget(max_attempts=spec.max_attempts, max_cost_usd=spec.max_cost_usd,
                      max_turns=min((c for c in (spec.max_turns, config.max_turns)
                                     if c is not None), default=None)),
        cancel=cancel, sandbox=sandbox))
    return Result(
        status=(execution.status if execution.status != TaskStatus.PARKED
                else TaskStatus.EXHAUSTED),
        task=info, worker=worker, branch=LOCAL_BRANCH, started_at=started,
        finished_at=time.time(), base_commit=base,
        changes=git.worktree_changes(repo, base) if repo is not None and base else Changes(),
        model_invoked=execution.model_invoked, usage=execution.usage.to_json(),
        attempts=tuple(a.record() for a in execution.attempts), failure=execution.failure,
        sandbox=sandbox.mode)
