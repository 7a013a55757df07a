"""What a result records of a run besides its outcome: the task it ran (TaskInfo), whether any
attempt reached a model, the usage totals, an internal error with its (redacted) traceback."""

from __future__ import annotations

import traceback
from typing import Any

from mtor_git.agent.evidence import Failure
from mtor_git.agent.redact import Redactor
from mtor_git.attempts import AttemptRecord
from mtor_git.retry.execution import Execution
from mtor_git.spec.validate import Checked
from mtor_git.task.job import Job
from mtor_git.task.result import TaskInfo


def reached_model(execution: Execution | None, attempts: tuple[AttemptRecord, ...]) -> bool | None:
    """Did any attempt of this run, handed-back ones included, reach a model?"""
    if any(a.model_invoked is True for a in attempts):
        return True
    if execution is not None:
        return execution.model_invoked
    return None if attempts else False  # no attempt at all: the agent never started


def internal_failure(exc: BaseException, redactor: Redactor) -> Failure:
    return Failure("internal_error", redactor.text(f"{type(exc).__name__}: {exc}"),
                   traceback=redactor.text(traceback.format_exc()))


def task_info(job: Job, checked: Checked, spec_commit: str | None, default: str) -> TaskInfo:
    spec = checked.spec
    return TaskInfo(id=job.task_id, spec_path=job.spec_path, spec_commit=spec_commit,
                    spec_sha256=spec.sha256 if spec else None,
                    agent=(spec.agent or default) if spec else None,
                    model=spec.model if spec else None, title=spec.title if spec else None,
                    continues=spec.continues if spec else None)


def usage_of(execution: Execution | None) -> dict[str, Any]:
    return execution.usage.to_json() if execution is not None else {}
