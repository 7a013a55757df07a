"""`mtor-git status`: every task's state, read from a real remote's refs after a fetch."""

from __future__ import annotations

import gc
import json
import time
from pathlib import Path
from typing import Any

import pytest
from boardfixtures import FakeWorker, add_specs, attempt, mtor, spec_text
from gitfixtures import git

from mtor_git.agent.evidence import Failure


@pytest.fixture
def worker(bare_remote: Path, tmp_path: Path) -> FakeWorker:
    return FakeWorker(str(bare_remote), tmp_path / "worker.git")


def states(user_repo: Path, *extra: str) -> dict[str, dict[str, Any]]:
    out = mtor(user_repo, "status", "--json", *extra)
    assert out.code == 0, out.stderr
    data = out.json()
    assert data["version"] == 1
    return {t["id"]: t for t in data["tasks"]}


def test_a_pushed_spec_is_pending(user_repo: Path) -> None:
    add_specs(user_repo, "fix-a")
    assert states(user_repo)["fix-a"]["state"] == "pending"


def test_a_spec_not_pushed_is_not_on_the_board(user_repo: Path) -> None:
    add_specs(user_repo, "local-only", push=False)
    assert "local-only" not in states(user_repo)


def test_a_fresh_claim_is_claimed_by_its_worker_with_lease_left(
        user_repo: Path, worker: FakeWorker) -> None:
    add_specs(user_repo, "a")
    worker.claim("a", lease=60)
    task = states(user_repo)["a"]
    assert task["state"] == "claimed"
    claim = task["claim"]
    assert claim["worker"] == "w1"
    assert 0 < claim["lease_left"] <= 60
    assert claim["since"] is not None


def test_a_claim_with_a_started_attempt_is_running(user_repo: Path, worker: FakeWorker) -> None:
    add_specs(user_repo, "a")
    worker.claim("a")
    worker.renew("a", attempt=1)
    assert states(user_repo)["a"]["state"] == "running"


def test_since_is_when_the_claim_began_not_the_last_heartbeat(
        user_repo: Path, worker: FakeWorker) -> None:
    add_specs(user_repo, "a")
    began = time.time() - 600
    worker.claim("a", now=began)
    worker.renew("a", attempt=1)
    worker.renew("a", attempt=2)
    task = states(user_repo)["a"]
    since = mtor(user_repo, "status", "a", "--json").json()["tasks"][0]["claim"]["since"]
    assert since == task["claim"]["since"]
    assert since.startswith(time.strftime("%Y-%m-%dT%H:%M", time.gmtime(began)))


def test_an_expired_lease_is_shown_as_expired(user_repo: Path, worker: FakeWorker) -> None:
    add_specs(user_repo, "a")
    worker.claim("a", lease=10, now=time.time() - 100)
    task = states(user_repo)["a"]
    assert task["claim"]["lease_left"] < 0
    table = mtor(user_repo, "status").stdout
    assert "lease expired" in table


def test_results_give_the_terminal_states(user_repo: Path, worker: FakeWorker) -> None:
    ids = ["ok", "bad", "tired", "nope", "stop"]
    add_specs(user_repo, *ids)
    worker.publish("ok", "succeeded", attempts=(attempt(),))
    worker.publish("bad", "failed", failure=Failure("usage_error", "unknown option"))
    worker.publish("tired", "exhausted", failure=Failure("rate_limited", "429 x4"))
    worker.publish("nope", "rejected", failure=Failure("invalid_spec", "bad key"))
    worker.publish("stop", "cancelled", failure=Failure("cancelled", "asked"))
    got = states(user_repo)
    assert {i: got[i]["state"] for i in ids} == {
        "ok": "succeeded", "bad": "failed", "tired": "exhausted", "nope": "rejected",
        "stop": "cancelled"}
    assert got["bad"]["result"]["failure_kind"] == "usage_error"
    assert got["ok"]["result"]["model_invoked"] is True


def test_released_interrupted_claim_is_interrupted(user_repo: Path, worker: FakeWorker) -> None:
    add_specs(user_repo, "a")
    worker.claim("a")
    worker.release("a", "interrupted", attempts=(attempt(kind="killed", exit_code=None),))
    task = states(user_repo)["a"]
    assert task["state"] == "interrupted"
    assert task["claim"]["carried_attempts"] == 1


def test_released_claim_with_future_not_before_is_parked(
        user_repo: Path, worker: FakeWorker) -> None:
    add_specs(user_repo, "a", "b")
    for task_id, not_before in (("a", time.time() + 3600), ("b", time.time() - 5)):
        worker.claim(task_id)
        worker.release(task_id, "parked", not_before=not_before)
    got = states(user_repo)
    assert got["a"]["state"] == "parked"
    assert got["b"]["state"] == "pending"  # its time has come: any worker may take it


def test_a_deleted_claim_vanishes_from_the_board(user_repo: Path, worker: FakeWorker,
                                                 bare_remote: Path) -> None:
    add_specs(user_repo, "a")
    worker.claim("a")
    assert states(user_repo)["a"]["state"] == "claimed"
    git("update-ref", "-d", "refs/mtor/claims/a", cwd=bare_remote)
    assert states(user_repo)["a"]["state"] == "pending"


def test_status_leaves_the_users_branches_alone(user_repo: Path, worker: FakeWorker) -> None:
    add_specs(user_repo, "a")
    worker.publish("a", "succeeded")
    before = git("for-each-ref", "--format=%(refname)", "refs/heads", "refs/remotes",
                 cwd=user_repo)
    assert mtor(user_repo, "status").code == 0
    after = git("for-each-ref", "--format=%(refname)", "refs/heads", "refs/remotes",
                cwd=user_repo)
    assert before == after
    hidden = git("for-each-ref", "--format=%(refname)", "refs/mtor-remote", cwd=user_repo)
    assert "refs/mtor-remote/origin/heads/mtor/a" in hidden.splitlines()


def test_a_merged_result_on_the_watched_branch_counts_as_done(user_repo: Path) -> None:
    add_specs(user_repo, "merged")
    from mtor_git.states import TaskStatus
    from mtor_git.task.result import Result, TaskInfo, WorkerInfo
    result = Result(TaskStatus.SUCCEEDED,
                    TaskInfo("merged", "tasks/merged.md", None, None, "claude"),
                    WorkerInfo("w1", "h", "0.1", 1), "mtor/merged", 0.0, 1.0, True)
    from gitfixtures import write_commit
    write_commit(user_repo, {"results/merged.json": result.dumps().encode()}, "merge result")
    assert states(user_repo)["merged"]["state"] == "succeeded"


def test_the_table_fits_80_columns(user_repo: Path, worker: FakeWorker) -> None:
    long_id = "a-very-long-task-identifier-that-goes-on-and-on-and-on"
    add_specs(user_repo, long_id, "short")
    worker.claim("short")
    worker.renew("short", attempt=1)
    out = mtor(user_repo, "status")
    assert out.code == 0
    lines = out.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines), lines
    header = next(x for x in lines if x.startswith("TASK"))
    assert header.split() == ["TASK", "STATE", "RUN", "DETAIL"]
    row = next(line for line in lines if line.startswith("short "))
    assert "running" in row and "w1" in row


def test_status_of_one_task_prints_its_detail(user_repo: Path, worker: FakeWorker) -> None:
    add_specs(user_repo, "a")
    worker.publish("a", "failed", failure=Failure("empty_failure", "no output, exit 1"))
    out = mtor(user_repo, "status", "a")
    assert out.code == 0
    assert "failed" in out.stdout and "empty_failure" in out.stdout


def test_status_of_an_unknown_task_fails_on_stderr(user_repo: Path) -> None:
    out = mtor(user_repo, "status", "ghost")
    assert out.code != 0
    assert "ghost" in out.stderr and out.stdout == ""
    assert gc.isenabled()  # paused for the board, given back on the way out of an error


def test_status_gives_the_collector_back(user_repo: Path, worker: FakeWorker) -> None:
    add_specs(user_repo, "a", "b")
    worker.publish("a", "succeeded")
    for argv in (["status"], ["status", "--json"], ["status", "a"]):
        assert mtor(user_repo, *argv).code == 0
        assert gc.isenabled()


def test_status_with_an_unknown_remote_is_a_usage_error(user_repo: Path) -> None:
    out = mtor(user_repo, "status", "--remote", "nowhere")
    assert out.code == 2
    assert "nowhere" in out.stderr


def test_status_over_git_protocol(daemon: object, bare_remote: Path, tmp_path: Path) -> None:
    from gitfixtures import GitDaemon, user_clone
    assert isinstance(daemon, GitDaemon)
    clone = user_clone(daemon.url(bare_remote), tmp_path / "over-git")
    add_specs(clone, "a")
    assert states(clone)["a"]["state"] == "pending"


def test_workers_shows_the_daemons_status_file(tmp_path: Path, bare_remote: Path) -> None:
    from mtor_git.config.load import parse_config
    from mtor_git.worker.daemon import Daemon
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"worker_id: w9\nworkspace: {tmp_path / 'ws'}\nstate_dir: {tmp_path / 'st'}\n"
                   f"runtime_dir: {tmp_path / 'rt'}\nrepos:\n  - url: {bare_remote}\n"
                   "agents:\n  claude:\n    command: [claude, -p]\n")
    config = parse_config(cfg.read_text(), source=str(cfg))
    d = Daemon(config, {})
    d.worker.last_poll = time.time() - 3
    d.worker.finished.append({"task": "x", "run": 1, "status": "failed", "at": time.time()})
    d.write_status()
    d.worker.pool.shutdown()
    out = mtor(tmp_path, "status", "--workers", "--config", str(cfg))
    assert out.code == 0, out.stderr
    assert "w9" in out.stdout and "x run 1: failed" in out.stdout
    data = json.loads(mtor(tmp_path, "status", "--workers", "--config", str(cfg),
                           "--json").stdout)
    assert data["version"] == 1 and data["found"] and data["heartbeat_age"] < 60
    assert data["worker"]["worker_id"] == "w9"


def test_workers_without_a_status_file_says_so(tmp_path: Path, bare_remote: Path) -> None:
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"state_dir: {tmp_path / 'none'}\nrepos:\n  - url: {bare_remote}\n"
                   "agents:\n  claude:\n    command: [claude, -p]\n")
    out = mtor(tmp_path, "status", "--workers", "--config", str(cfg))
    assert out.code == 1
    assert "no daemon status" in out.stdout


def test_a_spec_whose_name_is_no_task_id_is_shown_as_ignored(user_repo: Path) -> None:
    # Committed past the hook: workers skip it (its id could not name refs), status says so.
    (user_repo / "tasks").mkdir(exist_ok=True)
    (user_repo / "tasks" / "a..b.md").write_bytes(spec_text("a..b"))
    git("add", "tasks/a..b.md", cwd=user_repo)
    git("commit", "-q", "--no-verify", "-m", "bad name", cwd=user_repo)
    git("push", "-q", "--no-verify", "origin", "HEAD", cwd=user_repo)
    task = states(user_repo)["a..b"]
    assert task["state"] == "ignored"
    assert "not a valid task id" in str(task["detail"])
