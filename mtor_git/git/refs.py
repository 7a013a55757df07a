"""Every ref and path name mtor-git writes into git (docs/DESIGN.md §3), in one place."""

from __future__ import annotations

CLAIM_PREFIX = "refs/mtor/claims/"
RETRY_PREFIX = "refs/mtor/retry/"
CANCEL_PREFIX = "refs/mtor/cancel/"
BRANCH_PREFIX = "mtor/"
RESULTS_DIR = "results"
HEADS = "refs/heads/"
MTOR_REFS = "refs/mtor/"
DOCTOR_PREFIX = "refs/mtor/doctor/"  # doctor's scratch pushes, deleted at once
DONE_REF = "refs/mtor/done"  # the index of finished runs (queue/done.py)
DONE_TRACKING = "refs/remotes/origin-mtor/done"  # where a worker's clone fetches it
# Local to a clone, never pushed:
LOCAL_CLAIM_PREFIX = "refs/mtor-local/claims/"  # the last claim commit this worker pushed
QUARANTINE_PREFIX = "refs/mtor-local/quarantine/"  # a result withheld for a secret in its diff
LOCAL_DONE_REF = "refs/mtor-local/done"  # the last index commit this clone wrote
MIRROR_NAMESPACE = "refs/mtor-remote/"  # a user's mirror of a remote's mtor refs (client/board)


def head_ref(branch_name: str) -> str:
    return HEADS + branch_name


def local_claim_ref(task_id: str) -> str:
    return LOCAL_CLAIM_PREFIX + task_id


def quarantine_ref(task_id: str, run: int) -> str:
    return f"{QUARANTINE_PREFIX}{task_id}.r{run}"


def claim_ref(task_id: str) -> str:
    return CLAIM_PREFIX + task_id


def retry_ref(task_id: str) -> str:
    return RETRY_PREFIX + task_id


def cancel_ref(task_id: str) -> str:
    return CANCEL_PREFIX + task_id


def branch(task_id: str, run: int = 1) -> str:
    """Run 1 of a task lives on mtor/<id>; run N (after `mtor-git retry`) on mtor/<id>-r<N>."""
    return f"{BRANCH_PREFIX}{task_id}" if run == 1 else f"{BRANCH_PREFIX}{task_id}-r{run}"


def task_of_branch(name: str) -> tuple[str, int] | None:
    """(task id, run) of a result branch name `mtor/<id>` or `mtor/<id>-r<N>` (ids never end in
    `-r<N>`), None for any other name."""
    if not name.startswith(BRANCH_PREFIX):
        return None
    rest = name[len(BRANCH_PREFIX):]
    stem, sep, number = rest.rpartition("-r")
    if sep and stem and number.isdigit() and number[0] != "0":
        return stem, int(number)
    return rest, 1


def branch_ref(task_id: str, run: int = 1) -> str:
    return HEADS + branch(task_id, run)


def result_json(task_id: str) -> str:
    return f"{RESULTS_DIR}/{task_id}.json"


def result_md(task_id: str) -> str:
    return f"{RESULTS_DIR}/{task_id}.md"
