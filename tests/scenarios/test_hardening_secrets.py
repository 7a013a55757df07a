"""Secrets and who may dispatch, through a real daemon and a real remote.

A canary token in the agent's environment, which the agent prints, writes into files, names a
file after, puts in its commit messages and its JSON report, must reach none of: the result JSON,
the pull-request body, the daemon's log, any object of the remote. The agent's leaking commit
stays on the worker under refs/mtor-local/quarantine/<id>.r<N>. With require_signed, a spec
added by an unsigned commit or by an unknown key never starts its agent."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from daemonfixtures import Site, site, spec
from gitfixtures import git
from hostilefixtures import (
    CANARY_VAR,
    allowed_signers,
    commit_messages,
    counting_profile,
    daemon_log,
    leaky_profile,
    make_key,
    push_signed,
    remote_objects,
    run_daemon_once,
    worker_config,
)

pytestmark = pytest.mark.slow

CANARY = "canary-7f3a9c2e4b1d5e6f"
LEAKS = {  # task id: how its agent leaks
    "t-file": (),  # LEAKED.md holds the value
    "t-commit": ("--commit",),  # ... and the agent commits it with the value in the message
    "t-message": ("--message-only",),  # only its commit message holds the value
    "t-name": ("--name-only",),  # only a file *name* holds the value
}


@pytest.fixture
def s(tmp_path: Path) -> Iterator[Site]:
    with site(tmp_path) as running:
        yield running


@pytest.fixture(scope="module")
def leaked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """Every leak variant, a clean agent and a failing one, in one push and one daemon run
    (shared by the tests that read what it left)."""
    with site(tmp_path_factory.mktemp("leaks")) as s:
        yield _leak_everything(s)


def _leak_everything(s: Site) -> Site:
    agents = {tid: leaky_profile(s, *args) for tid, args in LEAKS.items()}
    agents["clean"] = leaky_profile(s, "--clean")
    agents["failing"] = leaky_profile(s, "--clean", "--fail")
    config = worker_config(s, "w1", agents, default_agent="clean", retry={"max_attempts": 2})
    specs = {tid: spec(agent=tid) for tid in LEAKS}
    specs.update({"t-clean": spec(agent="clean"), "t-failing": spec(agent="failing")})
    s.push_specs(specs)
    proc = run_daemon_once(s, config, {CANARY_VAR: CANARY})
    (s.root / "daemon-stderr.txt").write_text(proc.stderr + proc.stdout)
    return s


def worker_git(s: Site, *args: str, check: bool = True) -> str:
    return git(*args, cwd=s.root / "workers" / "w1" / "ws" / "remote" / "repo.git", check=check)


def quarantine_git(s: Site, task_id: str, *args: str) -> str:
    """In the run's quarantine repository: never in the clone, whose objects agents may read."""
    return git(*args, cwd=s.root / "workers" / "w1" / "ws" / "remote" / "quarantine" /
               f"{task_id}.r1.git")


def test_every_leak_ends_failed_secret_in_diff_and_nothing_of_the_agent_is_pushed(
        leaked: Site) -> None:
    s = leaked
    for tid in LEAKS:
        result = s.result(tid)
        assert (result["status"], result["terminal"]) == ("failed", True), tid
        assert result["failure"]["kind"] == "secret_in_diff", tid
        assert f"holds the value of {CANARY_VAR}" in result["failure"]["message"]
        assert result["head_commit"] == result["base_commit"] == result["task"]["spec_commit"]
        assert result["changes"]["files"] == []
        assert git("ls-tree", "--name-only", f"mtor/{tid}", cwd=s.remote).splitlines() == [
            "README.md", "results", "tasks"]
    assert s.results()["t-clean"] == "succeeded"
    assert s.results()["t-failing"] == "exhausted"


def test_the_leaking_commit_stays_quarantined_on_the_worker(leaked: Site) -> None:
    s = leaked
    for tid in LEAKS:
        ref = f"refs/mtor-local/quarantine/{tid}.r1"
        assert any(ref in note for note in s.result(tid)["notes"]), tid
        held = quarantine_git(s, tid, "rev-parse", "--verify", ref)
        assert ref not in s.refs()
        assert quarantine_git(s, tid, "cat-file", "-t", held) == "commit"
        # Not in the clone: its objects are lent to every later agent's checkout.
        assert worker_git(s, "cat-file", "-t", held, check=False) == ""
    assert quarantine_git(s, "t-file", "show", "refs/mtor-local/quarantine/t-file.r1:LEAKED.md") \
        == f"the token is {CANARY}"
    assert CANARY in quarantine_git(s, "t-message", "log", "-1", "--format=%B",
                                    "refs/mtor-local/quarantine/t-message.r1")


def test_the_canary_reaches_no_result_no_pr_body_no_log_and_no_remote_object(
        leaked: Site) -> None:
    s = leaked
    results = s.results()
    for tid in results:
        assert CANARY not in git("show", f"mtor/{tid}:results/{tid}.json", cwd=s.remote), tid
        assert CANARY not in git("show", f"mtor/{tid}:results/{tid}.md", cwd=s.remote), tid
    log = daemon_log(s, "w1") + (s.root / "daemon-stderr.txt").read_text()
    assert log and CANARY not in log
    objects = remote_objects(s.remote)
    assert b"notes without any secret" in objects  # the scan sees the clean agent's file
    assert CANARY.encode() not in objects
    assert CANARY not in commit_messages(s.remote)
    # The agent did print it everywhere: redacted, so the reader still sees that it did.
    attempt = s.result("t-file")["attempts"][0]
    assert f"[REDACTED:{CANARY_VAR}]" in attempt["stdout"]["head"]
    assert f"[REDACTED:{CANARY_VAR}]" in attempt["stderr"]["head"]
    assert f"[REDACTED:{CANARY_VAR}]" in attempt["report"]["result_text"]
    failing = s.result("t-failing")["attempts"]
    assert len(failing) == 2
    assert all(f"[REDACTED:{CANARY_VAR}]" in a["stdout"]["head"] for a in failing)


# -- who may dispatch --------------------------------------------------------------------------
def test_only_specs_from_commits_signed_by_an_allowed_key_run(s: Site, tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    trusted, stranger = make_key(keys, "trusted"), make_key(keys, "stranger")
    signers = allowed_signers(keys / "allowed_signers", "user@example.org", trusted)
    config = worker_config(s, "w1", {"count": counting_profile(s)}, default_agent="count",
                           require_signed=True, allowed_signers=str(signers))
    push_signed(s, {"t-unsigned": spec()}, None, "unsigned")
    push_signed(s, {"t-stranger": spec()}, stranger, "signed by an unknown key")
    push_signed(s, {"t-signed": spec(), "t-edited": spec()}, trusted, "signed")
    push_signed(s, {"t-edited": spec("Do something else entirely.\n")}, None,
                "unsigned edit of a signed spec")

    run_daemon_once(s, config)

    assert s.results() == {"t-signed": "succeeded", "t-unsigned": "rejected",
                           "t-stranger": "rejected", "t-edited": "rejected"}
    assert s.invocations() == ["t-signed.r1"]
    reasons = {"t-unsigned": "is not signed", "t-stranger": "is signed by a key that is not in",
               "t-edited": "is not signed"}
    for tid, reason in reasons.items():
        result = s.result(tid)
        assert result["failure"]["kind"] == "unsigned_spec"
        assert reason in result["failure"]["message"]
        assert result["model_invoked"] is False
        assert result["attempts"] == []


def test_require_signed_without_allowed_signers_refuses_to_start(s: Site) -> None:
    config = worker_config(s, "w1", {"count": counting_profile(s)}, default_agent="count",
                           require_signed=True)
    with pytest.raises(AssertionError, match="exited 78"):
        run_daemon_once(s, config)
