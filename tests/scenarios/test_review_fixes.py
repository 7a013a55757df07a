"""Behaviours a stranger's review asked for: a merged result counts as done, `base:` cannot
reach the worker's own refs, carried attempts do not multiply, claims survive an upgrade and
a restart under the same pid, and credentials in a URL never reach a log line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from daemonfixtures import Site, site, spec
from gitfixtures import git

from mtor_git.attempts import AttemptRecord
from mtor_git.git.transfer import shown_url
from mtor_git.queue import claims


@pytest.fixture
def s(tmp_path: Path) -> Iterator[Site]:
    with site(tmp_path) as built:
        yield built


def test_a_merged_result_is_done_even_after_its_branch_is_deleted(s: Site) -> None:
    s.push_specs({"t1": spec()})
    s.run_once(s.config("w1"))
    assert s.invocations() == ["t1.r1"]
    # The user merges the pull request and the host deletes the head branch.
    git("fetch", "-q", "origin", "mtor/t1", cwd=s.user)
    git("merge", "-q", "--no-edit", "FETCH_HEAD", cwd=s.user)
    git("push", "-q", "--no-verify", "origin", "HEAD:main", cwd=s.user)
    git("push", "-q", "--no-verify", "origin", ":refs/heads/mtor/t1", cwd=s.user)
    s.run_once(s.config("w2"))  # a fresh worker reconciles the whole tree
    assert s.invocations() == ["t1.r1"], "a merged task ran again"


def test_base_cannot_name_a_ref_of_the_workers_own(s: Site) -> None:
    s.push_specs({"t1": spec(base="mtor-local/claims/t1")})
    s.run_once(s.config("w1"))
    result = s.result("t1")
    assert (result["status"], result["failure"]["kind"]) == ("rejected", "bad_base")
    assert s.invocations() == []


def _claim(**changes: object) -> claims.Claim:
    base = claims.new_claim("t1", 1, "w1", 60.0, spec_commit=None)
    return claims.Claim(**{**base.__dict__, **changes})


def test_handing_back_twice_keeps_each_attempt_once() -> None:
    a1, a2 = AttemptRecord.from_json({"number": 1}), AttemptRecord.from_json({"number": 2})
    first = claims.released(_claim(), "interrupted", attempts=(a1,))
    second_run = claims.taken_over(first, "w2", 60.0, spec_commit=None)
    assert second_run.carried_attempts == (a1,)
    again = claims.released(second_run, "interrupted", attempts=(a1, a2))
    assert again.carried_attempts == (a1, a2)
    assert claims.released(again, "stopping").carried_attempts == (a1, a2)


def test_a_claim_from_a_newer_version_is_still_read() -> None:
    data = json.loads(_claim().to_bytes())
    data["field_from_the_future"] = {"x": 1}
    read = claims.Claim.from_bytes(json.dumps(data).encode())
    assert read is not None and read.lease_expires == data["lease_expires"]


def test_our_pid_in_a_claim_of_another_process_is_an_orphan() -> None:
    # PID 1 in a container: every restart has the same pid, but not the same process.
    assert claims.is_orphan_of(_claim(process="a-process-before-the-restart"), "w1")
    assert not claims.is_orphan_of(_claim(), "w1")  # this process's own, live claim
    assert not claims.is_orphan_of(_claim(process="x"), "another-worker")


@pytest.mark.parametrize(("url", "shown"), [
    ("https://bob:ghp_secret123@github.com/me/p.git", "https://bob:***@github.com/me/p.git"),
    ("git@github.com:me/p.git", "git@github.com:me/p.git"),
    ("https://github.com/me/p", "https://github.com/me/p"),
])
def test_a_token_in_a_repository_url_is_hidden_when_shown(url: str, shown: str) -> None:
    assert shown_url(url) == shown


def test_a_worker_of_a_mixed_fleet_leaves_a_profile_it_lacks_to_others(s: Site) -> None:
    s.push_specs({"t1": spec(agent="gpu-only"), "t2": spec()})
    s.run_once(s.config("w1", extra={"unknown_agents": "skip"}))
    assert set(s.results()) == {"t2"}  # t1 untouched: no claim, no result
    assert s.claims() == []
    s.run_once(s.config("w2"))  # the default: reject what this worker cannot run
    assert s.result("t1")["failure"]["kind"] == "unknown_agent"
