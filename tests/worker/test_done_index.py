"""Finished work leaves the hot path (issue 14): the worker records every finished run in the done
index `refs/mtor/done` (with the claim deletion, in one push), reads a task's end there instead
of fetching its result branch, and never runs a task again once the user deleted its branch,
merged or not. Real worker, real `git daemon`, the git CLI as the user."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from daemonfixtures import DAEMON_ENV, Site, mtor, site, spec
from gitfixtures import git

from mtor_git import git as gitops
from mtor_git.config.load import load_config
from mtor_git.git import refs
from mtor_git.queue import done
from mtor_git.worker.cycle import Worker


@pytest.fixture
def s(tmp_path: Path) -> Iterator[Site]:
    with site(tmp_path) as running:
        yield running


def worker(s: Site, name: str = "w1") -> Worker:
    return Worker(load_config(s.config(name)), DAEMON_ENV)


def settle(w: Worker) -> None:
    while w.busy():
        w.wake.wait(0.2)
    w.housekeeping.submit(lambda: None).result()


def recorded(s: Site) -> dict[str, dict[str, dict[str, object]]]:
    """The done index as the remote holds it, read with the git CLI."""
    tip = s.refs().get(refs.DONE_REF)
    if tip is None:
        return {}
    found: dict[str, dict[str, dict[str, object]]] = {}
    for name in git("ls-tree", "--name-only", tip, cwd=s.remote).split():
        found.update(json.loads(git("show", f"{tip}:{name}", cwd=s.remote)))
    return found


def status_json(s: Site) -> dict[str, dict[str, object]]:
    out = subprocess.run([*mtor("status", "--json")], cwd=s.user, env=DAEMON_ENV, check=True,
                         capture_output=True, text=True).stdout
    data = json.loads(out)
    tasks = data["tasks"] if isinstance(data, dict) else data
    return {t["id"]: t for t in tasks}


def test_a_finished_run_is_recorded_with_its_claim_deleted_in_one_push(s: Site) -> None:
    s.push_specs({"t1": spec(), "t2": spec()})
    w = worker(s)
    w.run_once()
    settle(w)
    index = recorded(s)
    assert set(index) == {"t1", "t2"}
    entry = index["t1"]["1"]
    assert entry["status"] == "succeeded" and entry["branch"] == "mtor/t1"
    assert entry["commit"] == s.refs()["refs/heads/mtor/t1"]
    assert entry["attempts"] == 1 and entry["model_invoked"] is not None
    assert s.claims() == []  # deleted by the same pushes
    w.stop(5)


def test_a_deleted_unmerged_branch_is_never_run_again(s: Site) -> None:
    s.push_specs({"t1": spec()})
    w = worker(s)
    w.run_once()
    settle(w)
    git("push", "-q", "origin", "--delete", "mtor/t1", cwd=s.user)  # the user closed the PR
    s.push_specs({"t2": spec()}, "more")
    w.run_once()
    settle(w)
    fresh = worker(s, "w2")  # a new clone: every spec a candidate
    fresh.run_once()
    settle(fresh)
    assert sorted(s.invocations()) == ["t1.r1", "t2.r1"]
    assert "refs/heads/mtor/t1" not in s.refs()
    board = status_json(s)
    assert board["t1"]["state"] == "succeeded"  # from the index: no branch to read
    w.stop(5)
    fresh.stop(5)


def test_a_result_branch_from_before_the_index_is_recorded_by_a_first_cycle(s: Site) -> None:
    s.push_specs({"t1": spec()})
    w = worker(s)
    w.run_once()
    settle(w)
    w.stop(5)
    git("update-ref", "-d", refs.DONE_REF, cwd=s.remote)  # as an older worker left it
    fresh = worker(s, "w2")
    fresh.run_once()
    settle(fresh)
    assert s.invocations() == ["t1.r1"]
    assert recorded(s)["t1"]["1"]["commit"] == s.refs()["refs/heads/mtor/t1"]
    fresh.stop(5)


def test_another_worker_fetches_no_recorded_result_branch(s: Site) -> None:
    other = worker(s, "w2")
    other.run_once()  # its clone exists before the results do (a clone takes every branch)
    s.push_specs({"t1": spec(), "t2": spec()})
    w = worker(s)
    w.run_once()
    settle(w)
    w.stop(5)
    other.run_once()
    settle(other)
    clone = gitops.open_repository(other.repos["remote"].path)
    for task_id in ("t1", "t2"):
        assert s.refs()[f"refs/heads/mtor/{task_id}"] not in clone  # never fetched
    assert sorted(s.invocations()) == ["t1.r1", "t2.r1"]
    index = done.DoneIndex(clone, s.refs()[refs.DONE_REF])
    assert index.has("t1", 1) and index.has("t2", 1)
    other.stop(5)


def test_a_dependent_starts_from_a_recorded_branch_the_worker_never_fetched(s: Site) -> None:
    fresh = worker(s, "w2")
    fresh.run_once()  # its clone exists before the result does
    s.push_specs({"base": spec()})
    w = worker(s)
    w.run_once()
    settle(w)
    w.stop(5)
    fresh.run_once()  # the recorded branch is not fetched
    assert s.refs()["refs/heads/mtor/base"] not in gitops.open_repository(
        fresh.repos["remote"].path)
    s.push_specs({"after": spec(depends_on=["base"])}, "dependent")
    fresh.run_once()
    settle(fresh)
    assert sorted(s.invocations()) == ["after.r1", "base.r1"]
    assert s.result("after")["status"] == "succeeded"
    base_tip = s.refs()["refs/heads/mtor/base"]
    git("merge-base", "--is-ancestor", base_tip, "refs/heads/mtor/after", cwd=s.remote)
    fresh.stop(5)


def test_a_new_workers_clone_takes_no_result_branch(s: Site) -> None:
    s.push_specs({"t1": spec()})
    w = worker(s)
    w.run_once()
    settle(w)
    w.stop(5)
    fresh = worker(s, "w2")
    fresh.run_once()  # clones now: main and refs/mtor/*, no mtor/<id>
    clone = gitops.open_repository(fresh.repos["remote"].path)
    assert s.refs()["refs/heads/mtor/t1"] not in clone
    assert not [r for r in clone.references if r.startswith("refs/remotes/origin/mtor/")]
    assert s.invocations() == ["t1.r1"]
    fresh.stop(5)
