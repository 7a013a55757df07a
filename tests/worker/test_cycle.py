"""The worker cycle in process, against a remote served by `git daemon` and real fake agents:
what one cycle starts, what it leaves waiting, and what its recovery pass pushes."""

from __future__ import annotations

from pathlib import Path

from daemonfixtures import Site, spec
from gitfixtures import git, install_hook
from workerfixtures import settle, worker

from mtor_git import git as gitops
from mtor_git.queue import claims, protocol

AUTHOR = ("other", "other@localhost")





def test_a_cycle_claims_and_runs_a_pushed_task_to_a_published_result(s: Site) -> None:
    s.push_specs({"t1": spec()})
    w = worker(s)
    assert w.cycle() == 1
    settle(w)
    assert s.results() == {"t1": "succeeded"}
    assert s.claims() == []


def test_a_cycle_after_nothing_moved_starts_nothing(s: Site) -> None:
    s.push_specs({"t1": spec()})
    w = worker(s)
    w.run_once()
    assert w.cycle() == 0
    assert s.invocations() == ["t1.r1"]


def test_a_task_claimed_by_a_live_worker_is_left_waiting(s: Site, tmp_path: Path) -> None:
    s.push_specs({"t1": spec()})
    other = claims.new_claim("t1", 1, "elsewhere", 3600.0, spec_commit=None)
    repo = gitops.open_or_clone(s.url, tmp_path / "elsewhere.git", bare=True)
    assert protocol.push_claim(repo, other, parent=None, author=AUTHOR) is not None
    w = worker(s)
    assert w.cycle() == 0
    assert "t1" in w.repos["remote"].waiting
    assert s.invocations() == []


def test_beyond_max_parallel_a_task_waits_for_the_next_cycle(s: Site) -> None:
    s.push_specs({"t1": spec(), "t2": spec()})
    w = worker(s, max_parallel=1, default_agent="slow")
    assert w.cycle() == 1
    assert w.repos["remote"].waiting == {"t2"}
    settle(w)
    w.run_once()
    assert s.results() == {"t1": "succeeded", "t2": "succeeded"}


def test_a_refused_result_waits_in_the_outbox_and_a_new_process_pushes_it(s: Site) -> None:
    s.push_specs({"t1": spec()})
    hook = install_hook(s.remote, "pre-receive",
                        "#!/bin/sh\ngrep -q refs/heads/mtor/ && exit 1\nexit 0\n")
    first = worker(s)
    first.run_once(error_retries=0)
    assert s.results() == {} and len(s.outbox("w1")) == 1
    assert s.claim_json("t1")["phase"] == "publishing"
    hook.unlink()
    again = worker(s)  # a restart: its first cycle's recovery pass tries every waiting result
    again.cycle()
    settle(again)
    assert s.results() == {"t1": "succeeded"} and s.outbox("w1") == []
    assert git("rev-parse", "--verify", "-q", "refs/mtor/claims/t1", cwd=s.remote,
               check=False) == ""
    assert s.invocations() == ["t1.r1"]
