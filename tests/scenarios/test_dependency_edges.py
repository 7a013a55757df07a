"""Edges of dependencies, follow-ups and deferral found by a hostile review of this round, each
through the real daemon and a real remote: a dependency that is no task, a cancel of a deferred
task, a dependency merged and deleted before its dependent starts, a user branch named like a
follow-up that has landed, and an edited follow-up spec that must not let its lane run twice."""

from __future__ import annotations

from pathlib import Path

import pytest
from daemonfixtures import site, spec, wait_for
from gitfixtures import git

pytestmark = pytest.mark.slow


def test_a_dependency_that_is_no_task_rejects_instead_of_waiting_forever(tmp_path: Path) -> None:
    with site(tmp_path) as s:
        s.push_specs({"b": spec("B.\n", depends_on=["typo-task"]),
                      "gone-dep": spec("G.\n", agent="no-such-profile"),
                      "c": spec("C.\n", depends_on=["gone-dep"])}, "tasks")
        s.push_specs({"gone-dep": None}, "gone-dep deleted before it ran")
        s.run_once(s.config("w1"))
        for task, dep in (("b", "typo-task"), ("c", "gone-dep")):
            failure = s.result(task)["failure"]
            assert failure["kind"] == "dependency_failed"
            assert f"{dep} is no task" in failure["message"]


def test_a_cancel_ends_a_task_deferred_by_the_daily_budget(tmp_path: Path) -> None:
    with site(tmp_path) as s:
        config = s.config("w1", max_parallel=1, extra={"budget": {"daily_usd": 0.0005}})
        s.push_specs({"a": spec("A.\n")}, "a")
        s.run_once(config)
        s.push_specs({"b": spec("B.\n")}, "b")
        s.run_once(config)
        assert s.claims() == ["b"]  # deferred: released until the budget resets
        git("push", "-q", "--no-verify", "origin",
            f"{git('commit-tree', '-m', 'cancel', 'HEAD^{tree}', cwd=s.user)}"
            ":refs/mtor/cancel/b", cwd=s.user)
        s.run_once(config)
        assert s.results() == {"a": "succeeded", "b": "cancelled"}
        assert s.claims() == []


def test_a_dependency_merged_and_deleted_is_still_the_start(tmp_path: Path) -> None:
    with site(tmp_path) as s:
        s.push_specs({"a": spec("A.\n"), "b": spec("B.\n", depends_on=["a"], agent="later")})
        s.run_once(s.config("w1", extra={"unknown_agents": "skip"}))  # w1 lacks `later`
        a_tip = s.refs()["refs/heads/mtor/a"]
        git("fetch", "-q", "origin", cwd=s.user)
        git("merge", "-q", "--no-edit", "origin/mtor/a", cwd=s.user)
        git("push", "-q", "--no-verify", "origin", "HEAD:main", ":mtor/a", cwd=s.user)
        s.run_once(s.config("w2", extra={"agents": {"instant": s._agent(), "later": s._agent()}}))
        base = s.result("b")["base_commit"]
        git("merge-base", "--is-ancestor", a_tip, base, cwd=s.remote)  # raises if not
        assert "results/a.json" in git("ls-tree", "-r", "--name-only", "mtor/b", cwd=s.remote)


def test_a_user_branch_named_like_a_landed_follow_up_never_reruns_it(tmp_path: Path) -> None:
    with site(tmp_path) as s:
        s.push_specs({"a": spec("A.\n")}, "a")
        config = s.config("w1")
        s.run_once(config)
        s.push_specs({"f": spec("More.\n", continues="a")}, "f")
        s.run_once(config)
        calls = len(s.invocations())
        git("push", "-q", "--no-verify", "origin", "HEAD:refs/heads/mtor/f", cwd=s.user)
        s.run_once(config)
        assert len(s.invocations()) == calls
        subjects = git("log", "--format=%s", "mtor/a", cwd=s.remote).splitlines()
        assert subjects.count("mtor: f succeeded") == 1


def test_an_edited_follow_up_spec_never_lets_the_next_one_run_beside_it(tmp_path: Path) -> None:
    with site(tmp_path) as s:
        s.push_specs({"a": spec("A.\n")}, "a")
        s.run_once(s.config("w0"))
        s.push_specs({"f1": spec("One.\n", continues="a", agent="slow")}, "f1")
        s.push_specs({"f2": spec("Two.\n", continues="a")}, "f2")
        s.start(s.config("w1", poll_interval="1s"))
        wait_for(lambda: "f1" in s.claims(), 30, "f1 claimed")
        s.push_specs({"f1": spec("One, edited.\n", continues="a", agent="slow")}, "edit f1")
        wait_for(lambda: "mtor: f2 succeeded" in git("log", "--format=%s", "mtor/a",
                                                     cwd=s.remote), 60, "f2's result on mtor/a")
        subjects = git("log", "--format=%s", "mtor/a", cwd=s.remote).splitlines()
        # One call each, in this order: a (w0), f1, f2. f1's agent sleeps 1.5 s after its call
        # is counted, so f2's call before that would have run beside it. (A claim may outlive
        # its published result for a moment, so the claims on the remote cannot tell.)
        calls = [float(line.split()[0]) for line in s.count_file.read_text().splitlines()]
        evidence = f"{subjects}\n{calls}\n{(s.root / 'workers/w1/daemon.log').read_text()}"
        assert len(calls) == 3 and calls[2] - calls[1] >= 1.5, evidence
        assert subjects[:2] == ["mtor: f2 succeeded", "mtor: f1 succeeded"], evidence
