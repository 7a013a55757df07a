"""Which tasks a cycle looks at: the specs changed since the last processed commit (the whole
tasks/ tree at start-up, after lost state or a force-push), every id under refs/mtor/{retry,
claims,cancel}/, and the ids left waiting; whether a run is done by a merged result; what a
candidate's spec asks (its profile, dependencies that have not ended)."""

from __future__ import annotations

import json

from loguru import logger

from mtor_git import git
from mtor_git.git import Repository, refs
from mtor_git.queue import deps
from mtor_git.queue.protocol import RemoteView
from mtor_git.spec.parse import is_spec_path, is_valid_id, valid_spec


def find_candidates(repo: Repository, view: RemoteView, *, tasks_dir: str, last: str | None,
                    whole: bool, known: set[str]) -> set[str]:
    """The task ids to consider this cycle; `known` (waiting or blocked ids) always among them.
    `whole` compares the whole tasks/ tree with the refs (a process's first cycle)."""
    assert view.head is not None
    ids = set(known)
    if whole or last is None or not git.is_ancestor(repo, last, view.head):
        # Start-up, lost state or a force-push: compare the whole tasks/ tree with the refs.
        paths = git.list_tree(repo, view.head, tasks_dir)
    else:
        paths = {c.path: "" for c in git.changed_paths(repo, last, view.head, tasks_dir)
                 if c.status != "deleted"}
    ids.update(_task_id(p) for p in paths
               if is_spec_path(p, tasks_dir) and _named_like_a_task(p))
    for prefix in (refs.RETRY_PREFIX, refs.CLAIM_PREFIX, refs.CANCEL_PREFIX):
        ids.update(view.ids_with(prefix))
    return ids


def merged_run(repo: Repository, head: str, task_id: str) -> int:
    """The run whose result was merged into the watched branch (0 when none): DESIGN §3 counts
    a task done then too, even after its mtor/<id> branch was deleted with the merge."""
    raw = git.read_blob(repo, head, refs.result_json(task_id))
    if raw is None:
        return 0
    try:
        run = json.loads(raw).get("run", 1)
        return run if isinstance(run, int) else 1
    except (ValueError, AttributeError):
        return 1  # a result file is there, whatever else it says


def waits_for_dependencies(repo: Repository, view: RemoteView, raw: bytes, spec_path: str,
                           tasks_dir: str) -> tuple[str, bool] | None:
    """(the spec's id, whether it waits for dependencies that have not ended); None for an
    invalid spec. One that failed, or a cycle, does not wait: the task is claimed and rejected
    with the reason."""
    spec = valid_spec(raw, spec_path)
    if spec is None:
        return None
    gate = deps.gate(repo, view, spec, tasks_dir)
    return spec.id, gate.only_waiting


def spec_profile(raw: bytes, spec_path: str) -> str | None:
    """The profile a spec names (None when it names none or is invalid)."""
    spec = valid_spec(raw, spec_path)
    return spec.agent if spec is not None else None




def _task_id(path: str) -> str:
    return path.rsplit("/", 1)[-1][:-3]


def _named_like_a_task(path: str) -> bool:
    """A file whose name cannot be a task id is no task: its id would name refs (`a..b` is no
    ref name and stopped the whole cycle; `tаsk` with a Cyrillic а would publish a branch that
    looks like mtor/task; `x-r2` would land on run 2 of `x`). Skipped with a warning; the
    pre-commit hook and `mtor-git validate` tell the user why."""
    task_id = _task_id(path)
    if is_valid_id(task_id):
        return True
    logger.warning("{}: {!r} is not a valid task id; ignored (see `mtor-git validate`)",
                   path, task_id)
    return False
