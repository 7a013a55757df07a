"""Hardening, faults: the real worker daemon against a real remote, broken at every stage we can
name — SIGKILL at each step of a task, the remote away for a while, a full disk, damaged local
state, a rewritten watched branch. What must hold each time: every task ends with exactly one
result, no finished task runs again, the daemon neither crashes nor spins, and it says why.

Complements test_daemon_faults.py (kill -9 mid-agent, remote down at push with --once, SIGTERM,
cancel), which these tests do not repeat."""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from daemonfixtures import Site, site, spec, wait_for
from faultfixtures import (
    can_mount_tmpfs,
    clone_path,
    fill,
    log_text,
    occurrences,
    outbox_entries,
    result_commits,
    run_daemon,
    small_tmpfs,
    start_daemon,
    state_file,
    status,
    truncate,
    worker_dir,
    worktrees_dir,
)
from gitfixtures import git

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
# What a fetch or repack killed with it leaves (git/maintenance.py names them).
PARTIAL_WRITES = ("objects/pack/pack_git2_5a05c57a4bc9dc13", "objects/pack/tmp_pack_Qx3Lm9",
                  "objects/tmp_object_git2_a81Hx2")


def test_lock_files_and_partial_packs_a_killed_process_left_are_cleared_on_restart(
        s: Site) -> None:
    s.push_specs({"t1": spec(agent="hang-first")})
    config = s.config("w1", claim_lease="60s")
    proc = s.start(config, once=True)
    wait_for(lambda: s.invocations(), 30, "the agent to start")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    # The attempt sandbox takes the agent down with the daemon; whatever is left dies here, as
    # if it died mid-commit (waiting to see it alive would race its sandbox's teardown).
    for pid in s.host_pids():
        os.kill(pid, signal.SIGKILL)
    clone = clone_path(s, "w1")
    for lock in STALE_LOCKS:
        (clone / lock).parent.mkdir(parents=True, exist_ok=True)
        (clone / lock).write_text("held by a process that was killed\n")
    for partial in PARTIAL_WRITES:
        (clone / partial).write_bytes(os.urandom(64 << 10))  # half a pack, for good
    s.push_specs({"t2": spec()}, "another task")

    s.run_once(config)

    assert_one_result(s, "t1")
    assert_one_result(s, "t2")
    assert sorted(s.invocations()) == ["t1.r1", "t1.r1", "t2.r1"]
    assert [lock for lock in STALE_LOCKS if (clone / lock).exists()] == []
    assert "stale lock file" in log_text(s, "w1")
    assert [partial for partial in PARTIAL_WRITES if (clone / partial).exists()] == []
    assert "killed fetch or repack" in log_text(s, "w1")


# -- the remote goes away for a while (a long-running daemon, no restart) -----------------------
def first_poll(s: Site, name: str) -> bool:
    return bool((status(s, name) or {}).get("last_poll"))


def failed_polls(s: Site, name: str, seen: set[float]) -> int:
    """Record the poll of the latest status file if it failed; how many failed polls seen."""
    now = status(s, name) or {}
    if now.get("last_error") and now.get("last_poll"):
        seen.add(now["last_poll"])
    return len(seen)


def test_cycles_ride_out_a_remote_outage_and_then_run_what_was_pushed_meanwhile(s: Site) -> None:
    proc = start_daemon(s, s.config("w1", poll_interval="1s"))
    wait_for(lambda: first_poll(s, "w1"), 30, "the first poll")
    s.server.stop()
    down_at = time.monotonic()
    s.push_specs({"t1": spec()})  # the user's clone reaches the repository through the disk

    seen: set[float] = set()
    wait_for(lambda: failed_polls(s, "w1", seen) >= 3, 30, "three failed polls")
    assert proc.poll() is None
    assert "cannot list refs" in (status(s, "w1") or {})["last_error"]
    s.server.start()
    wait_for(lambda: s.results().get("t1") and not s.claims(), 30, "the result")
    outage = time.monotonic() - down_at
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0

    assert_one_result(s, "t1")
    assert s.invocations() == ["t1.r1"]
    # One failed cycle per poll at most (a spin would make thousands), said in one log line
    # plus a repeat count.
    log = log_text(s, "w1")
    assert 3 <= occurrences(log, "unavailable this cycle") <= 2 * outage + 2
    assert log.count("unavailable this cycle") <= 4


def test_a_result_finished_during_an_outage_is_pushed_by_a_later_cycle_without_restart(
        s: Site) -> None:
    proc = start_daemon(s, s.config("w1", poll_interval="1s"))
    s.push_specs({"t1": spec(agent="slow")})
    wait_for(lambda: s.invocations(), 30, "the agent to start")
    s.server.stop()  # while the agent works

    wait_for(lambda: any(e["tries"] >= 3 for e in outbox_entries(s, "w1")), 30,
             "three failed pushes")
    assert proc.poll() is None
    assert "refs/heads/mtor/t1" not in s.refs()
    s.server.start()
    wait_for(lambda: s.results().get("t1") and not s.claims() and not s.outbox("w1"), 30,
             "the result to land")

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0
    assert_one_result(s, "t1")
    assert s.invocations() == ["t1.r1"]


# -- a full disk ---------------------------------------------------------------------------------
needs_tmpfs = pytest.mark.skipif(not can_mount_tmpfs(), reason="mounting a small tmpfs needs root")


@needs_tmpfs
def test_a_full_workspace_disk_is_named_in_the_log_and_the_task_runs_once_space_is_back(
        s: Site) -> None:
    with small_tmpfs(s.root / "small") as disk:
        proc = start_daemon(s, s.config("w1", poll_interval="1s",
                                        extra={"workspace": str(disk / "ws")}))
        wait_for(lambda: first_poll(s, "w1"), 30, "the first poll (the clone)")
        filler = fill(disk)
        full_at = time.monotonic()
        s.push_specs({"t1": spec()})  # fetching it needs space

        seen: set[float] = set()
        wait_for(lambda: failed_polls(s, "w1", seen) >= 3, 30, "three failed polls")
        assert proc.poll() is None
        assert "No space left on device" in (status(s, "w1") or {})["last_error"]
        assert s.invocations() == []
        filler.unlink()
        wait_for(lambda: s.results().get("t1") and not s.claims(), 30, "the result")
        full_for = time.monotonic() - full_at
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        assert list((clone_path(s, "w1") / "objects" / "pack").glob("pack_git2_*")) == []

    assert_one_result(s, "t1")
    assert s.invocations() == ["t1.r1"]
    log = log_text(s, "w1")
    assert 3 <= occurrences(log, "No space left on device") <= 2 * full_for + 2


@needs_tmpfs
def test_a_disk_that_fills_while_the_agent_runs_hands_the_task_back_until_there_is_room(
        s: Site) -> None:
    with small_tmpfs(s.root / "small") as disk:
        proc = start_daemon(s, s.config("w1", poll_interval="1s",
                                        extra={"workspace": str(disk / "ws")}))
        s.push_specs({"t1": spec(agent="slow")})
        wait_for(lambda: s.invocations(), 30, "the agent to start")
        filler = fill(disk)  # its edit, our commit of it and the result all need space

        wait_for(lambda: "out of space" in log_text(s, "w1"), 30, "the hand-back to be logged")
        time.sleep(2)  # a few polls with the disk still full
        assert proc.poll() is None
        assert "t1" not in s.results()  # a full disk is the worker's trouble: no verdict on t1
        filler.unlink()
        wait_for(lambda: s.results().get("t1") and not s.claims() and not s.outbox("w1"), 60,
                 "the result")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0

    [subject] = result_commits(s, "t1")
    result = s.result("t1")
    assert subject == "mtor: t1 succeeded"
    assert s.invocations()[0] == "t1.r1" and len(s.invocations()) >= 2
    assert len(result["attempts"]) >= 2  # the run the full disk cost is kept as evidence
    log = log_text(s, "w1")
    assert "No space left on device" in log
    assert "Logging error" not in log  # the record of a pygit2 error reached the log


# -- worktrees vanish ----------------------------------------------------------------------------
def test_a_worktree_deleted_under_a_running_agent_ends_in_one_clear_failure(s: Site) -> None:
    s.push_specs({"t1": spec(agent="slow"), "t2": spec()})
    proc = s.start(s.config("w1"), once=True)
    wait_for(lambda: "t1.r1" in s.invocations(), 30, "the agent of t1 to start")
    shutil.rmtree(worktrees_dir(s, "w1") / "t1.r1")  # a tmp cleaner, a careless rm -rf

    assert proc.wait(60) == 0

    result = s.result("t1")
    assert_one_result(s, "t1", "failed")
    assert "worktree" in result["failure"]["message"]
    assert_one_result(s, "t2")
    assert sorted(s.invocations()) == ["t1.r1", "t2.r1"]
    assert s.claims() == []


def test_worktrees_deleted_after_a_crash_are_rebuilt_on_restart(s: Site) -> None:
    s.push_specs({"t1": spec(agent="hang-first")})
    config = s.config("w1", claim_lease="60s")
    proc = s.start(config, once=True)
    wait_for(lambda: s.invocations(), 30, "the agent to start")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    for pid in s.host_pids():  # a sandboxed agent died with its daemon; an unsandboxed one not
        os.kill(pid, signal.SIGKILL)
    shutil.rmtree(worktrees_dir(s, "w1"))  # registered in the clone, gone from the disk

    s.run_once(config)

    assert_one_result(s, "t1")
    assert s.invocations() == ["t1.r1", "t1.r1"]
    assert s.claims() == []


# -- the user rewrites the watched branch --------------------------------------------------------
def test_force_push_under_a_long_running_daemon_reruns_nothing_and_runs_new_specs(
        s: Site) -> None:
    root = git("rev-parse", "HEAD", cwd=s.user)
    proc = start_daemon(s, s.config("w1", poll_interval="1s"))
    s.push_specs({"t1": spec(), "t2": spec(agent="slow")})
    wait_for(lambda: s.results().get("t1") and "t2.r1" in s.invocations(), 30,
             "t1 done and t2 running")
    t1_branch = s.refs()["refs/heads/mtor/t1"]

    # History rewritten while t2 runs: t1 the same in a new commit, t2 gone, t3 new.
    git("reset", "--quiet", "--hard", root, cwd=s.user)
    (s.user / "tasks").mkdir()
    (s.user / "tasks" / "t1.md").write_bytes(spec())
    (s.user / "tasks" / "t3.md").write_bytes(spec())
    git("add", "tasks", cwd=s.user)
    git("commit", "--quiet", "--no-verify", "-m", "rewritten", cwd=s.user)
    git("push", "--quiet", "--force", "origin", "HEAD:main", cwd=s.user)
    head = git("rev-parse", "HEAD", cwd=s.user)

    wait_for(lambda: {"t2", "t3"} <= set(s.results()) and not s.claims(), 30,
             "t2's and t3's results")
    wait_for(lambda: json.loads(state_file(s, "w1").read_text())["last_processed"] == head, 30,
             "the rewritten head to be processed")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0

    assert s.refs()["refs/heads/mtor/t1"] == t1_branch
    assert_one_result(s, "t2")  # its spec vanished while it ran: the run still ends once
    assert_one_result(s, "t3")
    assert sorted(s.invocations()) == ["t1.r1", "t2.r1", "t3.r1"]
    assert "poll cycle failed" not in log_text(s, "w1")
