"""The real `claude` CLI through our runner, parser, classifier and attempt loop, against a local
Anthropic-compatible stub (tests/anthropic_stub.py): success, a Write tool call, 429 and 401, and
key redaction.

Skipped when the CLI is not installed (a failure in CI, where .ci/run installs it); install it
project-locally with `npm install --prefix .cache-node --no-audit --no-fund
@anthropic-ai/claude-code`.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from anthropic_stub import (
    AnthropicStub,
    TextTurn,
    Turn,
    rate_limited,
    unauthorized,
    write_file,
)
from clifixtures import require_cli
from runner_fixtures import git_worktree

from mtor_git.agent.evidence import Classification, Report, Run
from mtor_git.agent.profiles import BUILTIN
from mtor_git.agent.reports import parse_report
from mtor_git.agent.spawn import RunRequest, run_attempt
from mtor_git.retry.loop import ExecuteRequest, Execution, execute
from mtor_git.retry.policy import BreakerBoard, RetryPolicy
from mtor_git.verdict.classify import classify

NPM_PREFIX = Path(__file__).resolve().parents[2] / ".cache-node"
INSTALL = "npm install --prefix .cache-node --no-audit --no-fund @anthropic-ai/claude-code"
FAKE_KEY = "sk-ant-stub-0123456789abcdef"
# The incident's shape: a body that opens like frontmatter and bullets, which argv would eat.
PROMPT = "---\n- item one: keep the leading dashes\n- item two\n\nSay what you did.\n"


def find_claude() -> Path | None:
    """The project-local install first, then PATH."""
    local = NPM_PREFIX / "node_modules" / ".bin" / "claude"
    if local.is_file() and os.access(local, os.X_OK):
        return local
    found = shutil.which("claude")
    return Path(found) if found else None


CLAUDE = find_claude()


@pytest.fixture(autouse=True)
def _claude_installed() -> None:
    require_cli("claude")  # skipped with the install command; a failure in CI
# These tests judge one CLI run at a time: the CLI's own retries are switched off here (the ready
# profile leaves them on and watches them live: tests/agent/test_claude_live.py).
ONE_SHOT = replace(BUILTIN["claude"], env={**BUILTIN["claude"].env,
                                           "CLAUDE_CODE_MAX_RETRIES": "0"})


def claude_environ(home: Path, stub: AnthropicStub) -> dict[str, str]:
    """The daemon environment: the stub as provider, a fake key, and a private HOME so that no
    real configuration or credential of this machine is read or written."""
    assert CLAUDE is not None
    home.mkdir(parents=True, exist_ok=True)
    return {
        "PATH": f"{CLAUDE.parent}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
        "HOME": str(home),
        "CLAUDE_CONFIG_DIR": str(home / ".claude"),
        "ANTHROPIC_BASE_URL": stub.base_url,
        "ANTHROPIC_API_KEY": FAKE_KEY,
    }


def run_claude(tmp_path: Path, turns: list[Turn], prompt: str = PROMPT,
               ) -> tuple[AnthropicStub, Run, Report, Classification]:
    """One attempt of the builtin claude profile in a fresh git worktree against a fresh stub."""
    worktree = git_worktree(tmp_path / "wt")
    with AnthropicStub(turns) as stub:
        req = RunRequest(ONE_SHOT, prompt, worktree, timeout=120.0,
                         environ=claude_environ(tmp_path / "home", stub))
        run = run_attempt(req)
    report = parse_report("claude-json", run)
    verdict = classify(run, report, min_model_call=RetryPolicy().min_model_call)
    return stub, run, report, verdict


def execute_claude(tmp_path: Path, turns: list[Turn], max_attempts: int = 3,
                   ) -> tuple[AnthropicStub, Execution]:
    """The whole attempt loop with the builtin claude profile; backoff shrunk to milliseconds."""
    policy = RetryPolicy(max_attempts=max_attempts, initial_backoff=0.01, max_backoff=0.01,
                         min_spacing=0.0)
    worktree = git_worktree(tmp_path / "wt")
    with AnthropicStub(turns) as stub:
        result = execute(ExecuteRequest(
            prompt=PROMPT, profile_name="claude", profiles={"claude": ONE_SHOT}, cwd=worktree,
            policy=policy,
            environ=claude_environ(tmp_path / "home", stub), breakers=BreakerBoard(policy),
            timeout=120.0))
    return stub, result


def test_success_is_reported_with_turns_and_model_invoked(tmp_path: Path) -> None:
    stub, run, report, verdict = run_claude(tmp_path, [TextTurn("All done, from the stub.")])
    assert run.exit_code == 0, run.stdout.text() + run.stderr.text()
    assert report.parsed and report.is_error is False
    assert (report.num_turns or 0) >= 1
    assert report.result_text == "All done, from the stub."
    assert report.model_invoked is True
    assert verdict.kind == "succeeded"
    assert len(stub.main_requests) == 1


def test_prompt_starting_with_dashes_reaches_the_model_intact(tmp_path: Path) -> None:
    stub, run, _, _ = run_claude(tmp_path, [TextTurn("ok")])
    assert run.exit_code == 0, run.stdout.text() + run.stderr.text()
    assert not any(arg.startswith("---") for arg in run.argv), "the prompt must not be in argv"
    (main,) = stub.main_requests
    assert PROMPT in main.user_texts()


def test_write_tool_call_creates_the_file_in_the_worktree(tmp_path: Path) -> None:
    stub, run, report, verdict = run_claude(tmp_path, write_file("notes/out.txt", "written\n"))
    assert run.exit_code == 0, run.stdout.text() + run.stderr.text()
    assert (tmp_path / "wt" / "notes" / "out.txt").read_text() == "written\n"
    assert report.permission_denials == 0
    assert (report.num_turns or 0) >= 2
    assert verdict.kind == "succeeded"
    # The second main request carried the tool's result back to the model.
    assert len(stub.main_requests) == 2
    assert stub.main_requests[1].tool_results()


def test_rate_limit_is_transient_and_the_cli_retries_are_capped(tmp_path: Path) -> None:
    stub, run, report, verdict = run_claude(tmp_path, [rate_limited(retry_after="1")])
    assert run.exit_code == 1
    assert report.is_error is True and report.api_error_status == 429
    assert verdict.kind == "rate_limited" and verdict.transient, verdict
    # The profile's CLAUDE_CODE_MAX_RETRIES caps the CLI's own retries (ten by default).
    assert len(stub.main_requests) == 1 + int(ONE_SHOT.env["CLAUDE_CODE_MAX_RETRIES"])


def test_auth_failure_is_terminal(tmp_path: Path) -> None:
    stub, run, report, verdict = run_claude(tmp_path, [unauthorized()])
    assert run.exit_code == 1
    assert report.is_error is True and report.api_error_status == 401
    assert verdict.kind == "auth" and not verdict.transient, verdict
    assert stub.main_requests, "the CLI must have reached the stub"


# claude 2.1.x reports num_turns=1 for a refused request (zero usage, zero cost).
@pytest.mark.parametrize("refusal", [rate_limited(), unauthorized()], ids=["429", "401"])
def test_a_refused_request_is_not_evidence_of_a_model_call(tmp_path: Path,
                                                           refusal: Turn) -> None:
    _, _, report, _ = run_claude(tmp_path, [refusal])
    assert report.is_error is True and report.cost_usd == 0
    assert report.model_invoked is not True


def test_api_key_never_appears_in_the_captured_run(tmp_path: Path) -> None:
    # The stub echoes the key it received into the answer, as a careless gateway might.
    stub, run, _, _ = run_claude(tmp_path, [TextTurn("your key is {api_key}")])
    assert run.exit_code == 0, run.stdout.text() + run.stderr.text()
    assert stub.main_requests[0].headers.get("x-api-key") == FAKE_KEY
    captured = "\n".join([*run.argv, run.cwd, run.stdout.text(), run.stderr.text()])
    assert FAKE_KEY not in captured
    assert "[REDACTED:ANTHROPIC_API_KEY]" in run.stdout.text()


def test_execute_succeeds_in_one_attempt_with_the_model_invoked(tmp_path: Path) -> None:
    stub, result = execute_claude(tmp_path, write_file("out.txt", "done\n"))
    assert result.status == "succeeded", result.failure
    assert len(result.attempts) == 1
    assert result.model_invoked is True
    assert (tmp_path / "wt" / "out.txt").read_text() == "done\n"


def test_execute_retries_a_rate_limit_until_the_budget_is_spent(tmp_path: Path) -> None:
    stub, result = execute_claude(tmp_path, [rate_limited()], max_attempts=2)
    assert result.status == "exhausted", result.failure
    assert [a.classification.kind for a in result.attempts] == ["rate_limited"] * 2
    retries = int(ONE_SHOT.env["CLAUDE_CODE_MAX_RETRIES"])
    assert len(stub.main_requests) == 2 * (1 + retries)


def test_execute_stops_after_one_auth_failure(tmp_path: Path) -> None:
    stub, result = execute_claude(tmp_path, [unauthorized()])
    assert result.status == "failed"
    assert len(result.attempts) == 1
    assert result.failure is not None and result.failure.kind == "auth"
