"""The outbox against a real bare remote: a result is pushed before its claim is deleted, kept
when the remote is away or refuses it (a refusal waits before the next try), dropped when the
remote already holds a result for the run, and a killed process's committed result is adopted."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from claimfixtures import AUTHOR, Worker, remote_ref
from gitfixtures import install_hook

from mtor_git import git as gitops
from mtor_git.git import refs
from mtor_git.queue import claims, outbox, protocol
from mtor_git.queue.acquire import Won, acquire
from mtor_git.queue.state import OutboxEntry, RepoState


def committed_result(w: Worker, task_id: str = "t1", *, pid: int = 1,
                     text: str = "done") -> str:
    """A result commit on the worker's local mtor/<id> branch, as a run leaves it."""
    head = gitops.resolve(w.repo, "refs/remotes/origin/main")
    data = {"run": 1, "status": "succeeded", "worker": {"id": w.name, "pid": pid}, "text": text}
    return gitops.commit_files(
        w.repo, ref=refs.branch_ref(task_id, 1), parent=head,
        files={refs.result_json(task_id): json.dumps(data).encode()},
        message=f"mtor: {task_id} succeeded", author_name=AUTHOR[0], author_email=AUTHOR[1])


def queued(w: Worker, state: RepoState, task_id: str = "t1") -> OutboxEntry:
    entry = outbox.new_entry(task_id, 1, committed_result(w, task_id), "succeeded")
    state.put_outbox(entry)
    return entry


def test_a_result_is_pushed_then_its_claim_deleted_and_the_entry_dropped(
        remote: Path, worker: Callable[[str], Worker], tmp_path: Path) -> None:
    w1, state = worker("w1"), RepoState(tmp_path / "state")
    assert isinstance(acquire(w1.repo, w1.view(), "t1", 1, worker="w1", lease=60.0,
                              author=AUTHOR), Won)
    entry = queued(w1, state)
    assert outbox.publish(w1.repo, state, entry) is True
    assert remote_ref(remote, "refs/heads/mtor/t1") == entry.commit
    assert remote_ref(remote, "refs/mtor/claims/t1") is None
    assert state.outbox() == []


def test_an_unreachable_remote_keeps_the_entry_for_the_next_cycle(
        remote: Path, worker: Callable[[str], Worker], tmp_path: Path) -> None:
    w1, state = worker("w1"), RepoState(tmp_path / "state")
    entry = queued(w1, state)
    shutil.move(remote, tmp_path / "away.git")
    assert outbox.publish(w1.repo, state, entry) is False
    [kept] = state.outbox()
    assert (kept.commit, kept.tries, kept.next_try_at) == (entry.commit, 1, 0.0)


def test_a_refused_result_waits_before_it_is_tried_again(
        remote: Path, served_worker: Worker, tmp_path: Path) -> None:
    w1, state = served_worker, RepoState(tmp_path / "state")
    install_hook(remote, "pre-receive", "#!/bin/sh\necho protected >&2\nexit 1\n")
    entry = queued(w1, state)
    assert outbox.publish(w1.repo, state, entry) is False
    [kept] = state.outbox()
    assert kept.tries == 1 and kept.next_try_at > time.time()
    assert outbox.flush(w1.repo, state, due_only=True) == []
    assert state.outbox()[0].tries == 1  # not due: not tried


def test_a_restart_tries_every_waiting_result_at_once(
        remote: Path, worker: Callable[[str], Worker], tmp_path: Path) -> None:
    w1, state = worker("w1"), RepoState(tmp_path / "state")
    entry = queued(w1, state)
    state.put_outbox(dataclasses.replace(entry, tries=3, next_try_at=time.time() + 3600))
    assert [e.task_id for e in outbox.flush(w1.repo, state, due_only=False)] == ["t1"]
    assert remote_ref(remote, "refs/heads/mtor/t1") == entry.commit


def test_a_run_whose_result_the_remote_already_holds_is_dropped_not_forced(
        remote: Path, worker: Callable[[str], Worker], tmp_path: Path) -> None:
    w1, w2 = worker("w1"), worker("w2")
    theirs = committed_result(w2, text="theirs")
    gitops.push(w2.repo, [f"{refs.branch_ref('t1', 1)}:{refs.branch_ref('t1', 1)}"])
    state = RepoState(tmp_path / "state")
    ours = queued(w1, state)
    assert outbox.publish(w1.repo, state, ours) is True
    assert state.outbox() == []
    assert remote_ref(remote, "refs/heads/mtor/t1") == theirs


def test_a_result_gone_from_the_clone_is_dropped(
        worker: Callable[[str], Worker], tmp_path: Path) -> None:
    w1, state = worker("w1"), RepoState(tmp_path / "state")
    entry = outbox.new_entry("t1", 1, "0" * 40, "succeeded")
    state.put_outbox(entry)
    assert outbox.publish(w1.repo, state, entry) is False
    assert state.outbox() == []


def test_the_result_of_a_killed_process_is_adopted_into_the_outbox(
        worker: Callable[[str], Worker], tmp_path: Path) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    w1, state = worker("w1"), RepoState(tmp_path / "state")
    claim = dataclasses.replace(claims.new_claim("t1", 1, "w1", 60.0, spec_commit=None),
                                pid=dead.pid, process="a-killed-process")
    assert protocol.push_claim(w1.repo, claim, parent=None, author=AUTHOR) is not None
    tip = committed_result(w1, pid=dead.pid)
    assert outbox.adopt(w1.repo, state, w1.view(), "w1") == 1
    assert [(e.task_id, e.commit) for e in state.outbox()] == [("t1", tip)]


def test_a_result_of_another_worker_is_not_adopted(
        worker: Callable[[str], Worker], tmp_path: Path) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    w1, state = worker("w1"), RepoState(tmp_path / "state")
    claim = dataclasses.replace(claims.new_claim("t1", 1, "w9", 60.0, spec_commit=None),
                                pid=dead.pid, process="a-killed-process")
    assert protocol.push_claim(w1.repo, claim, parent=None, author=AUTHOR) is not None
    committed_result(w1, pid=dead.pid)
    assert outbox.adopt(w1.repo, state, w1.view(), "w1") == 0
    assert state.outbox() == []
