"""Hardening, faults: the real worker daemon against a real remote, broken at every stage we can
name — SIGKILL at each step of a task, the remote away for a while, a full disk, damaged local
state, a rewritten watched branch. What must hold each time: every task ends with exactly one
result, no finished task runs again, the daemon neither crashes nor spins, and it says why.

Complements test_daemon_faults.py (kill -9 mid-agent, remote down at push with --once, SIGTERM,
cancel), which these tests do not repeat."""

from __future__ import annotations

import os
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from daemonfixtures import Site, site, spec, wait_for
from faultfixtures import (
    clone_path,
    log_text,
    outbox_entries,
    result_commits,
    run_daemon,
    state_file,
    truncate,
    worker_dir,
)

pytestmark = pytest.mark.slow


@pytest.fixture
def s(tmp_path: Path) -> Iterator[Site]:
    with site(tmp_path) as running:
        yield running


def assert_one_result(s: Site, task_id: str, status: str = "succeeded") -> None:
    assert result_commits(s, task_id) == [f"mtor: {task_id} {status}"]
    assert s.result(task_id)["status"] == status


# -- SIGKILL at each stage of a task ------------------------------------------------------------
STAGES = {
    # stage: (agent calls before the restart, result on the remote before the restart)
    "after_claim": (0, False),
    "after_commit": (1, False),
    "before_push": (1, False),
    "after_push": (1, True),
}


@pytest.mark.parametrize("stage", list(STAGES))
def test_sigkill_at_each_stage_then_restart_ends_with_one_result_and_one_agent_run(
        s: Site, stage: str) -> None:
    s.push_specs({"t1": spec()})
    config = s.config("w1", claim_lease="60s")  # no lease expires during the test

    crashed = run_daemon(s, config, fault=stage)

    assert crashed.returncode == -signal.SIGKILL, crashed.stderr[-2000:]
    calls, landed = STAGES[stage]
    assert len(s.invocations()) == calls
    assert ("refs/heads/mtor/t1" in s.refs()) is landed
    assert s.claims() == ["t1"]

    s.run_once(config)  # the same worker, restarted

    assert_one_result(s, "t1")
    assert s.invocations() == ["t1.r1"]
    assert s.claims() == []
    assert outbox_entries(s, "w1") == []
    before = s.refs()
    s.run_once(config)
    assert s.refs() == before


# -- damaged local state -------------------------------------------------------------------------
def test_truncated_state_file_is_set_aside_and_nothing_done_runs_again(s: Site) -> None:
    config = s.config("w1")
    s.push_specs({"t1": spec()})
    s.run_once(config)
    truncate(state_file(s, "w1"))
    s.push_specs({"t2": spec()}, "another task")

    s.run_once(config)

    assert s.results() == {"t1": "succeeded", "t2": "succeeded"}
    assert sorted(s.invocations()) == ["t1.r1", "t2.r1"]
    assert list(state_file(s, "w1").parent.glob("state.json.corrupt-*"))
    assert "state file" in log_text(s, "w1")


def test_truncated_outbox_entry_the_result_is_still_published_once(s: Site) -> None:
    s.push_specs({"t1": spec()})
    config = s.config("w1", claim_lease="60s")
    assert run_daemon(s, config, fault="before_push").returncode == -signal.SIGKILL
    [entry] = s.outbox("w1")
    truncate(entry)

    s.run_once(config)

    assert_one_result(s, "t1")
    assert s.invocations() == ["t1.r1"]
    assert s.claims() == []


def test_deleted_workspace_clone_is_cloned_again_and_only_new_tasks_run(s: Site) -> None:
    config = s.config("w1")
    s.push_specs({"t1": spec()})
    s.run_once(config)
    shutil.rmtree(worker_dir(s, "w1") / "ws")
    s.push_specs({"t2": spec()}, "another task")

    s.run_once(config)

    assert s.results() == {"t1": "succeeded", "t2": "succeeded"}
    assert sorted(s.invocations()) == ["t1.r1", "t2.r1"]
    assert clone_path(s, "w1").is_dir()


def test_workspace_deleted_while_a_result_waits_in_the_outbox_the_task_still_ends_once(
        s: Site) -> None:
    s.push_specs({"t1": spec()})
    config = s.config("w1", claim_lease="60s")
    assert run_daemon(s, config, fault="before_push").returncode == -signal.SIGKILL
    shutil.rmtree(worker_dir(s, "w1") / "ws")  # the committed result went with it

    s.run_once(config)

    assert_one_result(s, "t1")
    assert s.claims() == []
    assert outbox_entries(s, "w1") == []
    assert s.invocations() == ["t1.r1", "t1.r1"]  # the only copy was lost: run again


STALE_LOCKS = ("refs/heads/mtor/t1.lock", "worktrees/t1.r1/index.lock",
               "refs/mtor-local/claims/t2.lock", "refs/remotes/origin/main.lock",
               "packed-refs.lock", "config.lock", "HEAD.lock")


def test_stale_lock_files_a_killed_process_left_are_cleared_on_restart(s: Site) -> None:
    s.push_specs({"t1": spec(agent="hang-first")})
    config = s.config("w1", claim_lease="60s")
    proc = s.start(config, once=True)
    wait_for(lambda: s.invocations(), 30, "the agent to start")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    os.kill(s.agent_pids()[0], signal.SIGKILL)  # as if it died mid-`git commit`
    clone = clone_path(s, "w1")
    for lock in STALE_LOCKS:
        (clone / lock).parent.mkdir(parents=True, exist_ok=True)
        (clone / lock).write_text("held by a process that was killed\n")
    s.push_specs({"t2": spec()}, "another task")

    s.run_once(config)

    assert_one_result(s, "t1")
    assert_one_result(s, "t2")
    assert sorted(s.invocations()) == ["t1.r1", "t1.r1", "t2.r1"]
    assert [lock for lock in STALE_LOCKS if (clone / lock).exists()] == []
    assert "stale lock file" in log_text(s, "w1")
