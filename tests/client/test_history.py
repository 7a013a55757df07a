"""`mtor-git history`, `result` and `pr`: every attempt with the evidence that classified it.
Each failure layer of the incident must be named by `history`."""

from __future__ import annotations

from pathlib import Path

import pytest
from boardfixtures import FakeWorker, add_specs, attempt, mtor

from mtor_git.agent.evidence import Failure

TRACEBACK = """Traceback (most recent call last):
  File "/srv/mtor_git/taskrun.py", line 92, in run
    return self._run_agent(job, info, checked.spec, spec_commit, started, signals)
  File "/srv/mtor_git/gitops.py", line 120, in create_worktree
    raise GitOpError(f"cannot create worktree {name} at {path}: {exc}") from exc
mtor_git.errors.GitOpError: cannot create worktree t.r1 at /ws/t.r1: repository not found
"""


@pytest.fixture
def worker(bare_remote: Path, tmp_path: Path) -> FakeWorker:
    return FakeWorker(str(bare_remote), tmp_path / "worker.git")


def history(user_repo: Path, task_id: str) -> str:
    out = mtor(user_repo, "history", task_id)
    assert out.code == 0, out.stderr
    return out.stdout


def test_positional_frontmatter_is_named_a_usage_error_with_its_evidence(
        user_repo: Path, worker: FakeWorker) -> None:
    add_specs(user_repo, "dashes")
    evidence = "error: unknown option '---'"
    worker.publish("dashes", "failed", model_invoked=False, attempts=(attempt(
        kind="usage_error", rule="unknown_option", evidence=evidence, exit_code=1,
        stderr=evidence + "\n", model_invoked=False, duration=0.3,
        argv=("claude", "-p", "---\ntitle: x\n---\nbody")),),
        failure=Failure("usage_error", "attempt 1 was usage_error", rule="unknown_option",
                        evidence=evidence))
    text = history(user_repo, "dashes")
    assert "usage_error (terminal) by rule unknown_option" in text
    assert "unknown option '---'" in text
    assert "claude -p '---" in text  # the argv that carried it, quoted as a shell would


def test_silent_nonzero_exit_is_named_empty_failure(user_repo: Path, worker: FakeWorker) -> None:
    add_specs(user_repo, "silent")
    worker.publish("silent", "failed", model_invoked=False, attempts=(attempt(
        kind="empty_failure", rule="empty_output_nonzero", evidence="exit 1, no output",
        exit_code=1, model_invoked=False, duration=0.1),),
        failure=Failure("empty_failure", "attempt 1 was empty_failure"))
    text = history(user_repo, "silent")
    assert "empty_failure (terminal)" in text
    assert "stdout    0 bytes" in text and "stderr    0 bytes" in text
    assert "exit 1" in text


@pytest.mark.parametrize(("kind", "message"), [
    ("unexpanded_path", "cwd '~/src/pptx' is not expanded: ~ reached a subprocess"),
    ("missing_env", "agent 'claude' requires GLM_TOKEN, which is not set"),
])
def test_preflight_failures_are_named_with_no_attempt(user_repo: Path, worker: FakeWorker,
                                                      kind: str, message: str) -> None:
    add_specs(user_repo, "pre")
    worker.publish("pre", "failed", model_invoked=False,
                   failure=Failure(kind, message, rule="preflight"))
    text = history(user_repo, "pre")
    assert f"failure   {kind}: {message}" in text
    assert "rule      preflight" in text
    assert "0 attempts" in text and "model invoked no" in text


def test_an_internal_git_error_shows_its_traceback(user_repo: Path, worker: FakeWorker) -> None:
    add_specs(user_repo, "noclone")
    worker.publish("noclone", "failed", model_invoked=False, failure=Failure(
        "internal_error", "GitOpError: cannot create worktree t.r1", traceback=TRACEBACK))
    text = history(user_repo, "noclone")
    assert "internal_error: GitOpError" in text
    assert "taskrun.py\", line 92" in text
    assert "repository not found" in text


def test_an_unfinished_task_shows_the_attempts_its_claim_carries(
        user_repo: Path, worker: FakeWorker) -> None:
    add_specs(user_repo, "half")
    worker.claim("half")
    worker.release("half", "interrupted", attempts=(attempt(
        kind="rate_limited", rule="api_error_429", evidence="api_error_status 429",
        transient=True, exit_code=1),))
    text = history(user_repo, "half")
    assert "run 1 (not finished): interrupted" in text
    assert "rate_limited (transient) by rule api_error_429" in text


def test_history_spans_every_run_and_json_is_versioned(
        user_repo: Path, worker: FakeWorker) -> None:
    add_specs(user_repo, "again")
    worker.publish("again", "failed", attempts=(attempt(kind="auth_failed", exit_code=1),))
    assert mtor(user_repo, "retry", "again").code == 0
    worker.publish("again", "succeeded", run=2, attempts=(attempt(),))
    data = mtor(user_repo, "history", "again", "--json").json()
    assert data["version"] == 1 and data["state"] == "succeeded"
    assert [(r["run"], r["branch"], r["state"]) for r in data["runs"]] == [
        (1, "mtor/again", "failed"), (2, "mtor/again-r2", "succeeded")]
    first = data["runs"][0]["attempts"][0]
    assert first["classification"]["kind"] == "auth_failed"
    assert {"argv", "cwd", "exit_code", "signal", "duration", "stdout", "stderr",
            "model_invoked"} <= set(first)


def test_result_prints_the_summary_and_exits_by_status(user_repo: Path,
                                                      worker: FakeWorker) -> None:
    add_specs(user_repo, "good", "bad")
    worker.publish("good", "succeeded", attempts=(attempt(),))
    worker.publish("bad", "exhausted", failure=Failure("rate_limited", "429 four times"))
    good = mtor(user_repo, "result", "good")
    assert good.code == 0 and "succeeded" in good.stdout and "invoked: yes" in good.stdout
    bad = mtor(user_repo, "result", "bad")
    assert bad.code == 1 and "rate_limited: 429 four times" in bad.stdout


def test_result_json_carries_the_stored_result(user_repo: Path, worker: FakeWorker) -> None:
    add_specs(user_repo, "good")
    stored = worker.publish("good", "succeeded", attempts=(attempt(),))
    data = mtor(user_repo, "result", "good", "--json").json()
    assert data["version"] == 1 and data["run"] == 1 and data["branch"] == "mtor/good"
    assert data["result"] == stored.to_json()


def test_result_of_an_unfinished_task_says_so_on_stderr(user_repo: Path) -> None:
    add_specs(user_repo, "later")
    out = mtor(user_repo, "result", "later")
    assert out.code == 1 and out.stdout == ""
    assert "no result" in out.stderr and "pending" in out.stderr


def test_pr_prints_the_title_and_the_stored_body(user_repo: Path, worker: FakeWorker) -> None:
    from mtor_git.task.result import pr_body, pr_title
    add_specs(user_repo, "good")
    stored = worker.publish("good", "succeeded", attempts=(attempt(),))
    out = mtor(user_repo, "pr", "good")
    assert out.code == 0
    assert out.stdout == f"{pr_title(stored)}\n\n{pr_body(stored).rstrip()}\n"
    data = mtor(user_repo, "pr", "good", "--json").json()
    assert (data["version"], data["title"], data["body"]) == (1, pr_title(stored),
                                                             pr_body(stored))
