"""`mtor-git dispatch`, `retry` and `cancel`: what they write into a real remote, and what they
refuse."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from boardfixtures import FakeWorker, add_specs, mtor, remote_file, remote_refs, spec_text
from gitfixtures import git, write_commit

from mtor_git.git import refs


@pytest.fixture
def worker(bare_remote: Path, tmp_path: Path) -> FakeWorker:
    return FakeWorker(str(bare_remote), tmp_path / "worker.git")


def write_spec(where: Path, task_id: str, text: bytes | None = None) -> Path:
    path = where / f"{task_id}.md"
    path.write_bytes(text if text is not None else spec_text(task_id))
    return path


# -- dispatch ----------------------------------------------------------------------------------
def test_dispatch_commits_the_spec_into_tasks_and_pushes_it(
        user_repo: Path, bare_remote: Path, tmp_path: Path) -> None:
    spec = write_spec(tmp_path, "fix-a")
    out = mtor(user_repo, "dispatch", str(spec))
    assert out.code == 0, out.stderr
    assert "mtor/fix-a" in out.stdout
    assert remote_file(bare_remote, "main", "tasks/fix-a.md") == spec.read_bytes()
    assert git("log", "-1", "--format=%s", "main", cwd=bare_remote) == "mtor: dispatch fix-a"
    assert mtor(user_repo, "status", "fix-a", "--json").json()["tasks"][0]["state"] == "pending"


def test_dispatch_of_a_file_already_in_tasks_commits_it_in_place(
        user_repo: Path, bare_remote: Path) -> None:
    (user_repo / "tasks").mkdir()
    spec = write_spec(user_repo / "tasks", "in-place")
    assert mtor(user_repo, "dispatch", str(spec)).code == 0
    assert remote_file(bare_remote, "main", "tasks/in-place.md") == spec.read_bytes()


def test_dispatch_leaves_other_staged_changes_uncommitted(
        user_repo: Path, bare_remote: Path, tmp_path: Path) -> None:
    (user_repo / "other.txt").write_text("work in progress\n")
    git("add", "other.txt", cwd=user_repo)
    assert mtor(user_repo, "dispatch", str(write_spec(tmp_path, "b"))).code == 0
    assert "other.txt" not in git("ls-tree", "--name-only", "main", cwd=bare_remote)
    assert git("diff", "--cached", "--name-only", cwd=user_repo) == "other.txt"


def test_dispatch_of_an_invalid_spec_names_the_line_and_commits_nothing(
        user_repo: Path, tmp_path: Path) -> None:
    before = git("rev-parse", "HEAD", cwd=user_repo)
    bad = write_spec(tmp_path, "bad", b"---\ntitel: typo\n---\nbody\n")
    out = mtor(user_repo, "dispatch", str(bad))
    assert out.code == 1
    assert "bad.md:2: titel" in out.stderr
    assert git("rev-parse", "HEAD", cwd=user_repo) == before


def test_dispatch_refuses_an_id_already_on_the_remote(user_repo: Path, tmp_path: Path) -> None:
    add_specs(user_repo, "taken")
    out = mtor(user_repo, "dispatch", str(write_spec(tmp_path, "taken", spec_text("x", "Other"))))
    assert out.code == 2
    assert "already exists" in out.stderr


def test_dispatch_refuses_an_id_that_is_done(user_repo: Path, worker: FakeWorker,
                                            tmp_path: Path) -> None:
    add_specs(user_repo, "old")
    worker.publish("old", "succeeded")
    write_commit(user_repo, {"tasks/old.md": None}, "tidy up tasks/")
    out = mtor(user_repo, "dispatch", str(write_spec(tmp_path, "old")))
    assert out.code == 2
    assert "already done" in out.stderr


def test_dispatch_keeps_the_commit_when_the_push_is_refused(
        user_repo: Path, tmp_path: Path, bare_remote: Path) -> None:
    other = tmp_path / "other-clone"
    git("clone", "--quiet", bare_remote, other)
    write_commit(other, {"x.txt": b"x\n"}, "someone else pushed first")
    out = mtor(user_repo, "dispatch", str(write_spec(tmp_path, "late")))
    assert out.code == 1
    assert "push" in out.stderr and "commit is kept" in out.stderr
    assert git("log", "-1", "--format=%s", cwd=user_repo) == "mtor: dispatch late"


# -- retry -------------------------------------------------------------------------------------
def test_retry_of_a_task_not_done_is_refused(user_repo: Path, bare_remote: Path) -> None:
    add_specs(user_repo, "a")
    out = mtor(user_repo, "retry", "a")
    assert out.code == 2
    assert "not done" in out.stderr
    assert refs.retry_ref("a") not in remote_refs(bare_remote)


def test_retry_asks_for_run_two_on_a_new_branch_and_keeps_the_old_result(
        user_repo: Path, worker: FakeWorker, bare_remote: Path) -> None:
    add_specs(user_repo, "a")
    worker.publish("a", "failed")
    old = remote_refs(bare_remote)["refs/heads/mtor/a"]
    out = mtor(user_repo, "retry", "a")
    assert out.code == 0, out.stderr
    assert "mtor/a-r2" in out.stdout
    request = json.loads(remote_file(bare_remote, refs.retry_ref("a"), "retry.json"))
    assert request["run"] == 2
    assert request["requested_by"] == "Test User <user@example.org>"
    assert request["requested_at"]
    assert remote_refs(bare_remote)["refs/heads/mtor/a"] == old
    task = mtor(user_repo, "status", "a", "--json").json()["tasks"][0]
    assert (task["state"], task["run"], task["branch"]) == ("pending", 2, "mtor/a-r2")


def test_a_second_retry_takes_the_next_run_as_a_fast_forward(
        user_repo: Path, worker: FakeWorker, bare_remote: Path) -> None:
    add_specs(user_repo, "a")
    worker.publish("a", "failed")
    assert mtor(user_repo, "retry", "a").code == 0
    first = remote_refs(bare_remote)[refs.retry_ref("a")]
    assert mtor(user_repo, "retry", "a").code == 2  # run 2 is not done yet
    worker.publish("a", "failed", run=2)
    assert mtor(user_repo, "retry", "a").code == 0
    second = remote_refs(bare_remote)[refs.retry_ref("a")]
    assert git("rev-parse", f"{second}^", cwd=bare_remote) == first
    assert json.loads(remote_file(bare_remote, second, "retry.json"))["run"] == 3


def test_retry_removes_a_stale_cancel_request(user_repo: Path, worker: FakeWorker,
                                             bare_remote: Path) -> None:
    add_specs(user_repo, "a")
    worker.claim("a")
    assert mtor(user_repo, "cancel", "a").code == 0
    worker.publish("a", "cancelled")
    assert mtor(user_repo, "retry", "a").code == 0
    present = remote_refs(bare_remote)
    assert refs.cancel_ref("a") not in present
    assert refs.retry_ref("a") in present


def test_retry_of_a_task_whose_spec_is_gone_is_refused(user_repo: Path,
                                                       worker: FakeWorker) -> None:
    add_specs(user_repo, "a")
    worker.publish("a", "failed")
    write_commit(user_repo, {"tasks/a.md": None}, "drop a")
    out = mtor(user_repo, "retry", "a")
    assert out.code == 2
    assert "not on main" in out.stderr


# -- cancel ------------------------------------------------------------------------------------
def test_cancel_writes_a_request_the_workers_can_read(user_repo: Path, worker: FakeWorker,
                                                     bare_remote: Path) -> None:
    add_specs(user_repo, "a")
    worker.claim("a")
    out = mtor(user_repo, "cancel", "a", "--reason", "wrong prompt")
    assert out.code == 0, out.stderr
    request = json.loads(remote_file(bare_remote, refs.cancel_ref("a"), "cancel.json"))
    assert request["reason"] == "wrong prompt"
    assert request["requested_by"] == "Test User <user@example.org>"
    assert request["requested_at"]
    task = mtor(user_repo, "status", "a", "--json").json()["tasks"][0]
    assert task["cancel_requested"] is True


def test_a_second_cancel_is_a_no_op(user_repo: Path, bare_remote: Path) -> None:
    add_specs(user_repo, "a")
    assert mtor(user_repo, "cancel", "a").code == 0
    first = remote_refs(bare_remote)[refs.cancel_ref("a")]
    out = mtor(user_repo, "cancel", "a")
    assert out.code == 0 and "already requested" in out.stdout
    assert remote_refs(bare_remote)[refs.cancel_ref("a")] == first


def test_cancel_of_a_done_task_is_refused(user_repo: Path, worker: FakeWorker,
                                          bare_remote: Path) -> None:
    add_specs(user_repo, "a")
    worker.publish("a", "succeeded")
    out = mtor(user_repo, "cancel", "a")
    assert out.code == 2
    assert "already done" in out.stderr
    assert refs.cancel_ref("a") not in remote_refs(bare_remote)


def test_cancel_of_an_unknown_task_is_refused(user_repo: Path) -> None:
    out = mtor(user_repo, "cancel", "ghost")
    assert out.code == 1  # unknown task: 1 (README exit codes); a bad id is 2
    assert "no task ghost" in out.stderr


def test_steering_runs_through_the_users_pre_push_hook(user_repo: Path, tmp_path: Path) -> None:
    assert mtor(user_repo, "init").code == 0
    spec = write_spec(tmp_path, "hooked")
    out = mtor(user_repo, "dispatch", str(spec))
    assert out.code == 0, out.stderr
    assert mtor(user_repo, "cancel", "hooked").code == 0
