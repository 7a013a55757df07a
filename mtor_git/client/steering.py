"""The user's steering verbs, written into git: dispatch a spec (a commit on the watched branch),
ask for a retry (refs/mtor/retry/<id>) or a cancel (refs/mtor/cancel/<id>) that workers honour.

Pushes go through the `git` CLI on purpose: it is what the user would run, so their own
credentials, ssh configuration, credential helpers and hooks apply (pygit2 only knows ssh-agent).
Every push checks each ref's outcome (`--porcelain`) and raises PushRejected naming the refusals.
"""

from __future__ import annotations

import getpass
import json
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mtor_git import git
from mtor_git.client import board
from mtor_git.errors import PushRejected, UnknownTask, UsageError
from mtor_git.git import Repository, refs
from mtor_git.git.cli import push_cli, run_git
from mtor_git.queue import followups
from mtor_git.spec.parse import read_spec_file
from mtor_git.states import BoardState

RETRY_FILE = "retry.json"
CANCEL_FILE = "cancel.json"


@dataclass(frozen=True)
class Dispatched:
    task_id: str
    spec_path: str  # repository-relative
    commit: str
    remote: str
    branch: str  # the watched branch the spec was pushed to
    result_branch: str  # where the result will appear
    committed: bool  # False when HEAD already held this exact spec


def requester(repo: Repository) -> tuple[str, str]:
    """The user's git identity, else their login at this host."""
    try:
        return str(repo.config["user.name"]), str(repo.config["user.email"])
    except KeyError:
        user = getpass.getuser()
        return user, f"{user}@{socket.gethostname()}"


def _request_commit(snap: board.Snapshot, file: str, data: dict[str, Any], *,
                    parent: str | None, message: str) -> str:
    name, email = requester(snap.repo)
    data = {**data, "requested_by": f"{name} <{email}>",
            "requested_at": datetime.now(UTC).isoformat(timespec="seconds")}
    body = (json.dumps(data, indent=1, sort_keys=True) + "\n").encode()
    return git.commit_files(snap.repo, ref="", parent=parent, files={file: body},
                               message=message, author_name=name, author_email=email,
                               update_ref=False)


def _root(repo: Repository) -> Path:
    if repo.workdir is None:
        raise UsageError(f"{repo.path} is a bare repository; run this in a clone")
    return Path(repo.workdir)


# -- retry / cancel ----------------------------------------------------------------------------
def _unknown(state: board.TaskState) -> bool:
    return (state.state == BoardState.UNKNOWN and not state.spec_present
            and state.claim is None and not state.runs_done)


def request_retry(snap: board.Snapshot, task_id: str) -> int:
    """Ask for run N = 1 + the highest run so far, on branch mtor/<id>-r<N>; the old results
    stay. A stale cancel request is removed in the same atomic push. Returns N."""
    state = board.task_state(snap, task_id)
    if _unknown(state):
        raise UnknownTask(f"retry: no task {task_id} on {snap.remote}/{snap.view.branch}")
    if not state.state.terminal:
        raise UsageError(f"retry: task {task_id} is {state.state}, not done; only a finished "
                         "task can be run again")
    if not state.spec_present:
        raise UsageError(f"retry: tasks/{task_id}.md is not on {snap.view.branch} any more; "
                         "a worker cannot run it again")
    continued = _continues(snap, task_id)
    if continued is not None:
        raise UsageError(f"retry: {task_id} is a follow-up of {continued}: it ran once on that "
                         "task's branch; add a new follow-up spec (continues: "
                         f"{continued}) to ask for more")
    run = max({state.run, *state.runs_done}) + 1
    oid = _request_commit(snap, RETRY_FILE, {"run": run},
                          parent=snap.view.retry_oid(task_id),
                          message=f"mtor: retry {task_id} run {run}")
    specs = [f"{oid}:{refs.retry_ref(task_id)}"]
    if snap.view.cancelled(task_id):
        specs.append(f":{refs.cancel_ref(task_id)}")
    push_cli(_root(snap.repo), snap.remote, specs, atomic=True)
    return run


def _continues(snap: board.Snapshot, task_id: str) -> str | None:
    """The task `task_id`'s spec continues, when it is a follow-up."""
    spec = followups.spec_at(snap.repo, snap.view, snap.tasks_dir, task_id)
    return spec.continues if spec is not None else None


def request_cancel(snap: board.Snapshot, task_id: str, reason: str = "") -> bool:
    """Ask the workers to stop `task_id` (recorded as `cancelled`). False when a cancel was
    already requested."""
    state = board.task_state(snap, task_id)
    if state.state.terminal:
        raise UsageError(f"cancel: task {task_id} is already done ({state.state} on "
                         f"{state.branch})")
    if _unknown(state):
        raise UnknownTask(f"cancel: no task {task_id} on {snap.remote}/{snap.view.branch}")
    if snap.view.cancelled(task_id):
        return False
    oid = _request_commit(snap, CANCEL_FILE, {"reason": reason}, parent=None,
                          message=f"mtor: cancel {task_id}")
    try:
        push_cli(_root(snap.repo), snap.remote, [f"{oid}:{refs.cancel_ref(task_id)}"])
    except PushRejected:
        return False  # someone else asked first: the ref exists, which is all that matters
    return True


# -- dispatch ----------------------------------------------------------------------------------
def dispatch(snap: board.Snapshot, spec_file: Path) -> Dispatched:
    """Validate `spec_file`, place it at <tasks_dir>/<id>.md and commit that path alone (not
    pushed yet: see `push_dispatched`)."""
    spec = read_spec_file(spec_file)
    repo, root = snap.repo, _root(snap.repo)
    rel = f"{snap.tasks_dir}/{spec.id}.md"
    _refuse_known(snap, spec.id, rel)
    raw = spec_file.read_bytes()
    committed = _place_and_commit(repo, root, spec_file, rel, raw, spec.id)
    head = run_git(root, "rev-parse", "HEAD").stdout.strip()
    return Dispatched(spec.id, rel, head, snap.remote, snap.view.branch,
                      refs.branch(spec.id, 1), committed)


def push_dispatched(snap: board.Snapshot, d: Dispatched) -> None:
    """Push the dispatch commit to the watched branch (a fast-forward; never forced)."""
    push_cli(_root(snap.repo), d.remote, [f"{d.commit}:refs/heads/{d.branch}"])


def _refuse_known(snap: board.Snapshot, task_id: str, rel: str) -> None:
    where = f"{snap.remote}/{snap.view.branch}"
    if snap.view.head is not None and git.read_blob(snap.repo, snap.view.head, rel):
        raise UsageError(f"dispatch: task {task_id} already exists on {where} ({rel}); pick a "
                         f"new id, or `mtor-git retry {task_id}` to run it again")
    state = board.task_state(snap, task_id)
    if state.state.terminal:
        raise UsageError(f"dispatch: task {task_id} is already done ({state.state} on "
                         f"{state.branch}); pick a new id or `mtor-git retry {task_id}`")
    if state.claim is not None or state.cancel_requested:
        raise UsageError(f"dispatch: task {task_id} is already known to the workers "
                         f"({state.state}); pick a new id")


def _place_and_commit(repo: Repository, root: Path, source: Path, rel: str, raw: bytes,
                      task_id: str) -> bool:
    """Copy the spec into place (never over a different file) and commit that path alone, so
    whatever else the user has staged stays staged. False when HEAD already has it."""
    in_head = _head_blob(repo, rel)
    if in_head is not None and in_head != raw:
        raise UsageError(f"dispatch: {rel} in your HEAD differs from {source}; pick a new id")
    dest = root / rel
    if dest.resolve() != source.resolve():
        if dest.exists() and dest.read_bytes() != raw:
            raise UsageError(f"dispatch: {dest} exists and differs from {source}; not "
                             "overwriting it")
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(raw)
    if in_head is not None:
        return False
    run_git(root, "add", "--", rel)
    # The git CLI so the user's identity, signing configuration and pre-commit hook apply.
    run_git(root, "commit", "--quiet", "-m", f"mtor: dispatch {task_id}", "--", rel)
    return True


def _head_blob(repo: Repository, rel: str) -> bytes | None:
    if repo.head_is_unborn:
        return None
    return git.read_blob(repo, str(repo.head.target), rel)

