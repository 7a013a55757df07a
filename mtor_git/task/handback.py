"""Handing a claim back instead of ending the task: a full disk (or quota) in the workspace is the
worker's trouble, not the task's, so the run is released with what ran, to be tried again."""

from __future__ import annotations

import errno
import time

from loguru import logger

from mtor_git.attempts import AttemptRecord
from mtor_git.task.job import Job, Outcome


def disk_full(exc: BaseException) -> bool:
    """No space (or quota) in the workspace: a local, temporary condition, not the task's."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    text = str(exc)
    return "No space left on device" in text or "Disk quota exceeded" in text


def hand_back_for_space(job: Job, exc: BaseException | str, wait: float,
                         attempts: tuple[AttemptRecord, ...] | None = None) -> Outcome:
    """Give the claim back (with what ran) to be tried again after `wait`: a full disk is the
    worker's trouble, not the task's, and must not end it."""
    logger.error("task {}: the workspace is out of space ({}); handed back, to be tried again "
                 "in {:.0f}s", job.task_id, exc, wait)
    return Outcome(None, None, release_reason="disk full",
                   attempts=job.carried_attempts if attempts is None else attempts,
                   not_before=time.time() + wait)
