"""Follow-ups (`continues: <id>`) through the real daemon and a real remote over git://: the
follow-up's work and result land on mtor/<id> as a fast-forward, the first result untouched; two
follow-ups of one task run one after the other in push order, each from the head the one before
left; a follow-up of a merged or deleted task is rejected; `status` shows one waiting while its
target runs, and `result`/`history` find its result on the branch it continued."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from daemonfixtures import DAEMON_ENV, Site, mtor, site, spec, wait_for
from gitfixtures import GitCommandError, git

pytestmark = pytest.mark.slow


def cli(s: Site, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(mtor(*args), cwd=s.user, env=DAEMON_ENV, capture_output=True,
                          text=True, timeout=60)


def on_branch(s: Site, task_id: str, branch: str) -> dict[str, object]:
    return s.result(task_id, branch=branch)


def test_a_followup_lands_on_the_targets_branch_and_leaves_its_result_untouched(
        tmp_path: Path) -> None:
    with site(tmp_path) as s:
        s.push_specs({"base-task": spec("First.\n")}, "the task")
        s.run_once(s.config("w1"))
        first_tip = s.refs()["refs/heads/mtor/base-task"]
        first = git("show", "mtor/base-task:results/base-task.json", cwd=s.remote)
        s.push_specs({"more": spec("Then more.\n", continues="base-task")}, "a follow-up")
        s.run_once(s.config("w1"))
        refs = s.refs()
        assert "refs/heads/mtor/more" not in refs  # no branch of its own
        tip = refs["refs/heads/mtor/base-task"]
        # A fast-forward: the first run's commits are still there, under the follow-up's.
        git("merge-base", "--is-ancestor", first_tip, tip, cwd=s.remote)
        assert git("show", "mtor/base-task:results/base-task.json", cwd=s.remote) == first
        result = on_branch(s, "more", "mtor/base-task")
        assert result["status"] == "succeeded" and result["branch"] == "mtor/base-task"
        assert result["base_commit"] == first_tip
        assert result["task"]["continues"] == "base-task"  # type: ignore[index]
        # The follow-up works in the directory the run it continues worked in (resumable).
        assert s.invocations() == ["base-task.r1", "base-task.r1"]
        # Done: a further cycle runs nothing again.
        s.run_once(s.config("w1"))
        assert len(s.invocations()) == 2
        shown = json.loads(cli(s, "result", "more", "--json").stdout)
        assert shown["result"]["branch"] == "mtor/base-task", shown
        runs = json.loads(cli(s, "history", "more", "--json").stdout)["runs"]
        assert [(r["branch"], r["state"]) for r in runs] == [("mtor/base-task", "succeeded")]
        (row,) = json.loads(cli(s, "status", "more", "--json").stdout)["tasks"]
        assert (row["state"], row["branch"]) == ("succeeded", "mtor/base-task")


def test_two_followups_run_one_after_the_other_in_push_order(tmp_path: Path) -> None:
    with site(tmp_path) as s:
        s.push_specs({"root": spec("First.\n")}, "the task")
        s.run_once(s.config("w1"))
        # Pushed second-id-first, so that id order and push order disagree.
        s.push_specs({"zz-first": spec("Pushed first.\n", continues="root")}, "follow-up 1")
        s.push_specs({"aa-second": spec("Pushed second.\n", continues="root")}, "follow-up 2")
        for name in ("w1", "w2"):
            s.start(s.config(name, poll_interval="1s", default_agent="slow"))
        wait_for(lambda: _landed(s, "aa-second"), 90, "the second follow-up's result")
        assert len(s.invocations()) == 3  # each exactly once
        one = on_branch(s, "zz-first", "mtor/root")
        two = on_branch(s, "aa-second", "mtor/root")
        # The second started from the head the first left (its result commit on top).
        assert two["base_commit"] != one["base_commit"]
        git("merge-base", "--is-ancestor", str(one["head_commit"]), str(two["base_commit"]),
            cwd=s.remote)
        assert one["finished_at"] < two["started_at"]  # type: ignore[operator]


def _landed(s: Site, task_id: str) -> bool:
    try:
        git("cat-file", "-e", f"mtor/root:results/{task_id}.json", cwd=s.remote)
    except GitCommandError:
        return False
    return True


def test_a_followup_of_a_merged_task_is_rejected(tmp_path: Path) -> None:
    with site(tmp_path) as s:
        s.push_specs({"done-task": spec("First.\n")}, "the task")
        s.run_once(s.config("w1"))
        git("fetch", "--quiet", "origin", "mtor/done-task", cwd=s.user)
        git("merge", "--quiet", "--no-edit", "FETCH_HEAD", cwd=s.user)
        git("push", "--quiet", "--no-verify", "origin", "HEAD:main", cwd=s.user)
        s.push_specs({"late": spec("Too late.\n", continues="done-task")}, "a follow-up")
        s.run_once(s.config("w1"))
        result = s.result("late")  # on a branch of its own: the target's is closed
        assert result["status"] == "rejected"
        assert result["failure"]["kind"] == "followup_target_gone"
        assert "merged" in result["failure"]["message"]
        assert len(s.invocations()) == 1  # only done-task ran an agent


def test_a_followup_of_a_deleted_task_is_rejected(tmp_path: Path) -> None:
    with site(tmp_path) as s:
        s.push_specs({"gone-task": spec("First.\n")}, "the task")
        s.run_once(s.config("w1"))
        git("push", "--quiet", "origin", ":mtor/gone-task", cwd=s.user)
        s.push_specs({"gone-task": None, "orphan": spec("Continue.\n", continues="gone-task")},
                     "drop the task, add a follow-up")
        s.run_once(s.config("w1"))
        result = s.result("orphan")
        assert result["status"] == "rejected"
        assert result["failure"]["kind"] == "followup_target_gone"
        assert len(s.invocations()) == 1


def test_status_shows_a_followup_waiting_while_its_target_runs(tmp_path: Path) -> None:
    with site(tmp_path) as s:
        s.push_specs({"long": spec(agent="hang"), "next": spec(continues="long")}, "two")
        s.start(s.config("w1", poll_interval="1s"))
        wait_for(lambda: "long.r1" in s.invocations(), 30, "the target to start")
        proc = cli(s, "status", "next", "--json")
        (task,) = [t for t in json.loads(proc.stdout)["tasks"] if t["id"] == "next"]
        assert task["state"] == "waiting", proc.stdout
        assert task["detail"] == "waiting for long"
        assert s.invocations() == ["long.r1"]


def test_retry_of_a_followup_is_refused(tmp_path: Path) -> None:
    with site(tmp_path) as s:
        s.push_specs({"t": spec("First.\n"), "t-more": spec("More.\n", continues="t")}, "two")
        s.run_once(s.config("w1"))
        assert on_branch(s, "t-more", "mtor/t")["status"] == "succeeded"
        proc = cli(s, "retry", "t-more")
        assert proc.returncode == 2, proc.stdout + proc.stderr
        assert "follow-up" in proc.stderr + proc.stdout
        assert "refs/mtor/retry/t-more" not in s.refs()


def _push_to_branch(s: Site, branch: str, name: str) -> str:
    """The user adds a commit of their own on the remote's `branch`; the new head."""
    git("fetch", "--quiet", "origin", branch, cwd=s.user)
    git("checkout", "--quiet", "-B", "side", "FETCH_HEAD", cwd=s.user)
    (s.user / name).write_text("the user's own change\n")
    git("add", name, cwd=s.user)
    git("commit", "--quiet", "--no-verify", "-m", "user on the PR branch", cwd=s.user)
    git("push", "--quiet", "--no-verify", "origin", f"side:{branch}", cwd=s.user)
    head = git("rev-parse", "HEAD", cwd=s.user)
    git("checkout", "--quiet", "main", cwd=s.user)
    return head


def _followup_running(s: Site) -> None:
    """`root` done, then its slow follow-up `extra` running on a daemon polling every second."""
    s.push_specs({"root": spec("First.\n")}, "the task")
    s.run_once(s.config("w1"))
    s.push_specs({"extra": spec("More.\n", continues="root", agent="slow")}, "follow-up")
    s.start(s.config("w1", poll_interval="1s"))
    wait_for(lambda: len(s.invocations()) == 2, 30, "the follow-up to start")


def test_a_branch_moved_while_the_followup_ran_gets_it_again_from_the_new_head(
        tmp_path: Path) -> None:
    with site(tmp_path) as s:
        _followup_running(s)
        moved = _push_to_branch(s, "mtor/root", "USER.md")
        wait_for(lambda: _landed(s, "extra"), 60, "the follow-up's result")
        result = on_branch(s, "extra", "mtor/root")
        assert result["status"] == "succeeded" and result["base_commit"] == moved
        assert len(s.invocations()) == 3  # the follow-up twice: its first result could not land
        git("merge-base", "--is-ancestor", moved, "mtor/root", cwd=s.remote)  # never forced


def test_a_branch_merged_and_deleted_while_the_followup_ran_is_not_created_again(
        tmp_path: Path) -> None:
    with site(tmp_path) as s:
        _followup_running(s)
        git("pull", "--quiet", "--no-rebase", "--no-edit", "origin", "main", cwd=s.user)
        git("fetch", "--quiet", "origin", "mtor/root", cwd=s.user)
        git("merge", "--quiet", "--no-edit", "FETCH_HEAD", cwd=s.user)
        git("push", "--quiet", "--no-verify", "origin", "HEAD:main", ":mtor/root", cwd=s.user)
        wait_for(lambda: "refs/heads/mtor/extra" in s.refs(), 60, "the follow-up's end")
        assert "refs/heads/mtor/root" not in s.refs()
        result = s.result("extra")
        assert result["status"] == "rejected"
        assert result["failure"]["kind"] == "followup_target_gone"


def test_a_task_depending_on_a_followup_waits_for_it_and_starts_from_its_branch(
        tmp_path: Path) -> None:
    with site(tmp_path) as s:
        s.push_specs({"root": spec("First.\n"), "extra": spec("More.\n", continues="root"),
                      "after": spec("Then this.\n", depends_on=["extra"])}, "three")
        s.run_once(s.config("w1"))
        assert s.invocations() == ["root.r1", "root.r1", "after.r1"]
        extra = on_branch(s, "extra", "mtor/root")
        after = s.result("after")
        assert after["status"] == "succeeded"
        git("merge-base", "--is-ancestor", str(extra["head_commit"]), str(after["base_commit"]),
            cwd=s.remote)
        assert "results/extra.json" in git("ls-tree", "-r", "--name-only", "mtor/after",
                                           cwd=s.remote)


def test_status_shows_the_second_followup_waiting_for_the_first(tmp_path: Path) -> None:
    with site(tmp_path) as s:
        s.push_specs({"root": spec("First.\n")}, "the task")
        s.run_once(s.config("w1"))
        s.push_specs({"one": spec("Hangs.\n", continues="root", agent="hang")}, "follow-up 1")
        s.push_specs({"two": spec("Next.\n", continues="root")}, "follow-up 2")
        s.start(s.config("w1", poll_interval="1s"))
        wait_for(lambda: len(s.invocations()) == 2, 30, "the first follow-up to start")
        (task,) = json.loads(cli(s, "status", "two", "--json").stdout)["tasks"]
        assert (task["state"], task["detail"]) == ("waiting", "waiting for one")
        assert len(s.invocations()) == 2
