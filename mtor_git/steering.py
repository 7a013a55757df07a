"""The user's steering verbs, written into git: dispatch a spec (a commit on the watched branch),
ask for a retry (refs/mtor/retry/<id>) or a cancel (refs/mtor/cancel/<id>) that workers honour.

Pushes go through the `git` CLI on purpose: it is what the user would run, so their own
credentials, ssh configuration, credential helpers and hooks apply (pygit2 only knows ssh-agent).
Every push checks each ref's outcome (`--porcelain`) and raises PushRejected naming the refusals.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pygit2

from mtor_git import board, gitops, names
from mtor_git.errors import GitOpError, PushRejected, UsageError
from mtor_git.spec import read_spec_file

GIT_TIMEOUT = 300.0
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


# -- git CLI -----------------------------------------------------------------------------------
def git(root: Path, *args: str, timeout: float = GIT_TIMEOUT) -> subprocess.CompletedProcess[str]:
    """Run `git args...` in `root` with the user's environment; GitOpError on a non-zero exit."""
    argv = ["git", *args]
    try:
        proc = subprocess.run(argv, cwd=root, capture_output=True, text=True, timeout=timeout,
                              env=dict(os.environ), check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise GitOpError(f"{' '.join(argv)}: {exc}") from exc
    if proc.returncode != 0:
        raise GitOpError(f"{' '.join(argv)} exited {proc.returncode}: "
                         f"{(proc.stderr or proc.stdout).strip()}")
    return proc


def push(root: Path, remote: str, specs: list[str], *, atomic: bool = False) -> None:
    """`git push --porcelain` of `specs`; PushRejected names every ref the remote refused."""
    argv = ["git", "push", "--porcelain", *(["--atomic"] if atomic else []), remote, *specs]
    try:
        proc = subprocess.run(argv, cwd=root, capture_output=True, text=True,
                              timeout=GIT_TIMEOUT, env=dict(os.environ), check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise GitOpError(f"{' '.join(argv)}: {exc}") from exc
    refused = _refusals(proc.stdout)
    if refused:
        raise PushRejected(refused)
    if proc.returncode != 0:
        raise GitOpError(f"git push to {remote} failed ({proc.returncode}): "
                         f"{proc.stderr.strip() or proc.stdout.strip()}")


def _refusals(porcelain: str) -> dict[str, str]:
    """`!<TAB>src:dst<TAB>reason` lines of `git push --porcelain` -> {dst: reason}."""
    refused: dict[str, str] = {}
    for line in porcelain.splitlines():
        parts = line.split("\t")
        if len(parts) >= 3 and parts[0] == "!":
            refused[parts[1].rsplit(":", 1)[-1]] = parts[2]
    return refused


def requester(repo: pygit2.Repository) -> tuple[str, str]:
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
    return gitops.commit_files(snap.repo, ref="", parent=parent, files={file: body},
                               message=message, author_name=name, author_email=email,
                               update_ref=False)


def _root(repo: pygit2.Repository) -> Path:
    if repo.workdir is None:
        raise UsageError(f"{repo.path} is a bare repository; run this in a clone")
    return Path(repo.workdir)


# -- retry / cancel ----------------------------------------------------------------------------
def request_retry(snap: board.Snapshot, task_id: str) -> int:
    """Ask for run N = 1 + the highest run so far, on branch mtor/<id>-r<N>; the old results
    stay. A stale cancel request is removed in the same atomic push. Returns N."""
    state = board.task_state(snap, task_id)
    if state.state not in board.TERMINAL:
        raise UsageError(f"retry: task {task_id} is {state.state}, not done; only a finished "
                         "task can be run again")
    if not state.spec_present:
        raise UsageError(f"retry: tasks/{task_id}.md is not on {snap.view.branch} any more; "
                         "a worker cannot run it again")
    run = max({state.run, *state.runs_done}) + 1
    oid = _request_commit(snap, RETRY_FILE, {"run": run},
                          parent=snap.view.retry_oid(task_id),
                          message=f"mtor: retry {task_id} run {run}")
    specs = [f"{oid}:{names.retry_ref(task_id)}"]
    if snap.view.cancelled(task_id):
        specs.append(f":{names.cancel_ref(task_id)}")
    push(_root(snap.repo), snap.remote, specs, atomic=True)
    return run


def request_cancel(snap: board.Snapshot, task_id: str, reason: str = "") -> bool:
    """Ask the workers to stop `task_id` (recorded as `cancelled`). False when a cancel was
    already requested."""
    state = board.task_state(snap, task_id)
    if state.state in board.TERMINAL:
        raise UsageError(f"cancel: task {task_id} is already done ({state.state} on "
                         f"{state.branch})")
    if state.state == "unknown" and not state.spec_present and state.claim is None:
        raise UsageError(f"cancel: no task {task_id} on {snap.remote}/{snap.view.branch}")
    if snap.view.cancelled(task_id):
        return False
    oid = _request_commit(snap, CANCEL_FILE, {"reason": reason}, parent=None,
                          message=f"mtor: cancel {task_id}")
    try:
        push(_root(snap.repo), snap.remote, [f"{oid}:{names.cancel_ref(task_id)}"])
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
    head = git(root, "rev-parse", "HEAD").stdout.strip()
    return Dispatched(spec.id, rel, head, snap.remote, snap.view.branch,
                      names.branch(spec.id, 1), committed)


def push_dispatched(snap: board.Snapshot, d: Dispatched) -> None:
    """Push the dispatch commit to the watched branch (a fast-forward; never forced)."""
    push(_root(snap.repo), d.remote, [f"{d.commit}:refs/heads/{d.branch}"])


def _refuse_known(snap: board.Snapshot, task_id: str, rel: str) -> None:
    where = f"{snap.remote}/{snap.view.branch}"
    if snap.view.head is not None and gitops.read_blob(snap.repo, snap.view.head, rel):
        raise UsageError(f"dispatch: task {task_id} already exists on {where} ({rel}); pick a "
                         f"new id, or `mtor-git retry {task_id}` to run it again")
    state = board.task_state(snap, task_id)
    if state.state in board.TERMINAL:
        raise UsageError(f"dispatch: task {task_id} is already done ({state.state} on "
                         f"{state.branch}); pick a new id or `mtor-git retry {task_id}`")
    if state.claim is not None or state.cancel_requested:
        raise UsageError(f"dispatch: task {task_id} is already known to the workers "
                         f"({state.state}); pick a new id")


def _place_and_commit(repo: pygit2.Repository, root: Path, source: Path, rel: str, raw: bytes,
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
    git(root, "add", "--", rel)
    # The git CLI so the user's identity, signing configuration and pre-commit hook apply.
    git(root, "commit", "--quiet", "-m", f"mtor: dispatch {task_id}", "--", rel)
    return True


def _head_blob(repo: pygit2.Repository, rel: str) -> bytes | None:
    if repo.head_is_unborn:
        return None
    return gitops.read_blob(repo, str(repo.head.target), rel)

