"""Every ref and path name mtor-git writes into git (DESIGN §3), in one place."""

from __future__ import annotations

CLAIM_PREFIX = "refs/mtor/claims/"
RETRY_PREFIX = "refs/mtor/retry/"
CANCEL_PREFIX = "refs/mtor/cancel/"
BRANCH_PREFIX = "mtor/"
RESULTS_DIR = "results"


def claim_ref(task_id: str) -> str:
    return CLAIM_PREFIX + task_id


def retry_ref(task_id: str) -> str:
    return RETRY_PREFIX + task_id


def cancel_ref(task_id: str) -> str:
    return CANCEL_PREFIX + task_id


def branch(task_id: str, run: int = 1) -> str:
    """Run 1 of a task lives on mtor/<id>; run N (after `mtor-git retry`) on mtor/<id>-r<N>."""
    return f"{BRANCH_PREFIX}{task_id}" if run == 1 else f"{BRANCH_PREFIX}{task_id}-r{run}"


def branch_ref(task_id: str, run: int = 1) -> str:
    return "refs/heads/" + branch(task_id, run)


def result_json(task_id: str) -> str:
    return f"{RESULTS_DIR}/{task_id}.json"


def result_md(task_id: str) -> str:
    return f"{RESULTS_DIR}/{task_id}.md"
