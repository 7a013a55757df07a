"""Finished work off the hot path (issue 14): a worker keeps no tracking ref of a result branch
(its objects are fetched once, when it appears), yet still tells a worker-written result from a
user's own `mtor/<id>` branch and never runs a done task again."""

from __future__ import annotations

from daemonfixtures import Site, spec
from gitfixtures import git
from workerfixtures import worker

from mtor_git import git as gitops
from mtor_git.worker.cycle import Worker


def tracking(w: Worker) -> set[str]:
    repo = gitops.open_repository(w.repos["remote"].path)
    return {r for r in repo.references
            if r.startswith(gitops.TRACKING_PREFIX) and not r.endswith("/HEAD")}


def users_own_branch(s: Site, name: str) -> str:
    """A branch `name` the user pushed, holding no result."""
    git("checkout", "-q", "-b", name, cwd=s.user)
    (s.user / "notes.md").write_text(f"my own work on {name}\n")
    git("add", "notes.md", cwd=s.user)
    git("commit", "-q", "-m", "my own branch", cwd=s.user)
    git("push", "-q", "--no-verify", "origin", name, cwd=s.user)
    git("checkout", "-q", "main", cwd=s.user)
    return git("rev-parse", name, cwd=s.user)


def test_no_tracking_ref_of_a_result_branch_and_a_done_task_never_runs_again(s: Site) -> None:
    s.push_specs({"t1": spec()})
    w = worker(s)
    w.run_once()
    result = s.refs()["refs/heads/mtor/t1"]
    assert tracking(w) == {gitops.TRACKING_PREFIX + "main"}
    assert result in gitops.open_repository(w.repos["remote"].path)  # its objects are here
    s.push_specs({"t2": spec()})  # the branch moves: a fetching cycle looks again
    w.run_once()
    fresh = worker(s, "w2")  # a first cycle (every spec a candidate) in a new clone
    fresh.run_once()
    assert sorted(s.invocations()) == ["t1.r1", "t2.r1"]
    assert not any(r.startswith(gitops.TRACKING_PREFIX + "mtor/") for r in tracking(fresh))


def test_a_users_mtor_branch_pushed_after_the_first_cycle_is_still_no_result(s: Site) -> None:
    w = worker(s)
    w.run_once()  # the first cycle is over: only what moves is fetched from now on
    mine = users_own_branch(s, "mtor/t1")
    s.push_specs({"t1": spec()})
    w.run_once()
    assert s.invocations() == ["t1.r2"]
    assert s.result("t1", "mtor/t1-r2")["status"] == "succeeded"
    assert s.refs()["refs/heads/mtor/t1"] == mine


def test_a_branch_deleted_on_the_remote_leaves_no_tracking_ref(s: Site) -> None:
    users_own_branch(s, "feature")
    w = worker(s)
    w.run_once()
    assert gitops.TRACKING_PREFIX + "feature" in tracking(w)
    git("push", "-q", "--no-verify", "origin", ":feature", cwd=s.user)
    s.push_specs({"t1": spec()})
    w.run_once()
    assert tracking(w) == {gitops.TRACKING_PREFIX + "main"}
