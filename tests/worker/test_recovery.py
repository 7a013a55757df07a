"""The recovery pass against a real bare remote: at a process's first cycle it sweeps the lock
files a killed process left and adopts the result it committed; every cycle it pushes what
waits in the outbox and reports each result that landed."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from claimfixtures import AUTHOR, Worker, clone_for, remote_ref
from gitfixtures import make_bare_remote

from mtor_git import git as gitops
from mtor_git.git import Repository, refs
from mtor_git.queue import claims, outbox, protocol
from mtor_git.queue.state import OutboxEntry, RepoState
from mtor_git.worker.recovery import PROCESS_START, recover


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    return make_bare_remote(tmp_path / "remote.git")


@pytest.fixture
def worker(remote: Path, tmp_path: Path) -> Callable[[str], Worker]:
    return lambda name: clone_for(remote, tmp_path / name / "repo.git", name)


def stale_lock(w: Worker) -> Path:
    """A ref lock a killed process left: written before this process started."""
    lock = Path(w.repo.path) / "refs" / "heads" / "main.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    lock.write_text("")
    os.utime(lock, (PROCESS_START - 60, PROCESS_START - 60))
    return lock


def result_commit(w: Worker, pid: int) -> str:
    head = gitops.resolve(w.repo, "refs/remotes/origin/main")
    data = {"run": 1, "status": "succeeded", "worker": {"id": w.name, "pid": pid}}
    return gitops.commit_files(
        w.repo, ref=refs.branch_ref("t1", 1), parent=head,
        files={refs.result_json("t1"): json.dumps(data).encode()}, message="mtor: t1 succeeded",
        author_name=AUTHOR[0], author_email=AUTHOR[1])


def run_pass(w: Worker, state: RepoState, *, first: bool) -> list[str]:
    """One pass; the task ids of the results that landed."""
    landed: list[str] = []

    def note(_repo: Repository, entry: OutboxEntry) -> None:
        landed.append(entry.task_id)

    recover(Path(w.repo.path), lambda: w.repo, state, branch="main", worker=w.name,
            first=first, on_landed=note)
    return landed


def test_the_first_pass_sweeps_a_lock_a_killed_process_left(
        worker: Callable[[str], Worker], tmp_path: Path) -> None:
    w1 = worker("w1")
    lock = stale_lock(w1)
    run_pass(w1, RepoState(tmp_path / "state"), first=True)
    assert not lock.exists()


def test_a_later_pass_leaves_lock_files_alone(
        worker: Callable[[str], Worker], tmp_path: Path) -> None:
    w1 = worker("w1")
    lock = stale_lock(w1)
    run_pass(w1, RepoState(tmp_path / "state"), first=False)
    assert lock.exists()


def test_the_first_pass_adopts_and_pushes_a_killed_process_result(
        remote: Path, worker: Callable[[str], Worker], tmp_path: Path) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    w1 = worker("w1")
    claim = dataclasses.replace(claims.new_claim("t1", 1, "w1", 60.0, spec_commit=None),
                                pid=dead.pid, process="a-killed-process")
    assert protocol.push_claim(w1.repo, claim, parent=None, author=AUTHOR) is not None
    tip = result_commit(w1, dead.pid)
    assert run_pass(w1, RepoState(tmp_path / "state"), first=True) == ["t1"]
    assert remote_ref(remote, "refs/heads/mtor/t1") == tip
    assert remote_ref(remote, "refs/mtor/claims/t1") is None


def test_every_pass_pushes_what_waits_in_the_outbox(
        remote: Path, worker: Callable[[str], Worker], tmp_path: Path) -> None:
    w1, state = worker("w1"), RepoState(tmp_path / "state")
    tip = result_commit(w1, os.getpid())
    state.put_outbox(outbox.new_entry("t1", 1, tip, "succeeded"))
    assert run_pass(w1, state, first=False) == ["t1"]
    assert remote_ref(remote, "refs/heads/mtor/t1") == tip and state.outbox() == []
