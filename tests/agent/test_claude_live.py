"""The live monitor with the real Claude Code CLI (stream-json) against the loopback stub: the
CLI's own retries seen as they happen (a terminal 401 stops at once, transient 429s stay inside
one attempt), a stall, a cost cap crossed mid-session, and a session resumed after a transient
fault with the first attempt's files kept.

Skipped when the CLI is not installed (tests/agent/test_claude_real.py says how to install it).
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest
from anthropic_stub import (
    AnthropicStub,
    StallTurn,
    TextTurn,
    ToolUseTurn,
    Turn,
    overloaded,
    rate_limited,
    unauthorized,
)
from clifixtures import require_cli
from runner_fixtures import git_worktree
from test_claude_real import claude_environ

from mtor_git.agent.evidence import Attempt
from mtor_git.agent.profiles import AgentProfile
from mtor_git.config.load import parse_config
from mtor_git.retry.budget import Budget
from mtor_git.retry.loop import ExecuteRequest, Execution, execute
from mtor_git.retry.policy import BreakerBoard, RetryPolicy


@pytest.fixture(autouse=True)
def _claude_installed() -> None:
    require_cli("claude")  # skipped with the install command; a failure in CI

# A profile as a user writes it: its own command, no `extends: claude`, so none of the ready
# profile's settings (no CLAUDE_CODE_MAX_RETRIES: the CLI retries a 401 ten times on its own).
USER_PROFILE = """\
repos: [{url: /srv/git/p.git}]
agents:
  mine:
    command: [claude, -p, --output-format, stream-json, --verbose, --permission-mode, acceptEdits]
    report: claude-stream-json
    pass_env: [ANTHROPIC_API_KEY, ANTHROPIC_BASE_URL, CLAUDE_CONFIG_DIR]
"""


def profiles(text: str, environ: dict[str, str]) -> dict[str, AgentProfile]:
    return dict(parse_config(text, environ=environ).agents)


def write(path: str, content: str, **usage: int) -> ToolUseTurn:
    return ToolUseTurn("Write", {"file_path": path, "content": content}, usage=usage or None)


def run_live(tmp_path: Path, turns: list[Turn], config: str, *, max_attempts: int = 3,
             budget: Budget | None = None, between: object = None,
             ) -> tuple[AnthropicStub, Execution, Path, float]:
    """The attempt loop with the profile of `config` (its only agent) against a fresh stub; the
    seconds it took."""
    policy = RetryPolicy(max_attempts=max_attempts, initial_backoff=0.01, max_backoff=0.01,
                         min_spacing=0.0)
    worktree = git_worktree(tmp_path / "wt")
    with AnthropicStub(turns) as stub:
        environ = claude_environ(tmp_path / "home", stub)
        agents = profiles(config, environ)
        started = time.monotonic()
        result = execute(ExecuteRequest(
            prompt="Do the task.", profile_name=next(iter(agents)), profiles=agents,
            cwd=worktree, policy=policy, environ=environ, breakers=BreakerBoard(policy),
            timeout=120.0, budget=budget or Budget()),
            on_attempt=between if callable(between) else None)
        took = time.monotonic() - started
    return stub, result, worktree, took


def test_a_401_the_cli_retries_on_its_own_is_stopped_at_once_as_terminal(tmp_path: Path) -> None:
    stub, result, _, took = run_live(tmp_path, [unauthorized()], USER_PROFILE)
    assert result.status == "failed" and len(result.attempts) == 1
    assert result.failure is not None and result.failure.kind == "auth", result.failure
    (attempt,) = result.attempts
    assert attempt.run.stopped_by == "terminal_event"
    assert result.failure.evidence is not None and '"api_retry"' in result.failure.evidence
    assert '"error_status": 401' in result.failure.evidence
    assert took < 10, f"{took:.1f}s"  # the CLI alone takes ~186 s (FIELD-NOTES)
    assert len(stub.main_requests) < 4, "stopped at the first retry notice, not the tenth"


def test_two_429s_then_success_stay_inside_one_attempt(tmp_path: Path) -> None:
    turns: list[Turn] = [rate_limited("1"), rate_limited("1"), TextTurn("done")]
    _, result, _, _ = run_live(tmp_path, turns, "repos: [{url: /x}]\nagents: {claude: {}}\n")
    assert result.status == "succeeded", result.failure
    (attempt,) = result.attempts
    assert attempt.cli_retries.count == 2
    assert attempt.cli_retries.statuses == (429, 429)
    assert attempt.cli_retries.wait_ms >= 2000  # Retry-After: 1, honoured twice
    assert attempt.to_json()["cli_retries"]["count"] == 2


def test_the_cli_may_wait_on_its_own_retries_only_max_cli_retry_wait(tmp_path: Path) -> None:
    config = USER_PROFILE + "    max_cli_retry_wait: 1s\n"
    _, result, _, took = run_live(tmp_path, [rate_limited("1")], config, max_attempts=1)
    assert result.status == "exhausted", result.failure
    assert result.failure is not None and result.failure.kind == "rate_limited"
    (attempt,) = result.attempts
    assert attempt.run.stopped_by == "cli_retry_wait" and attempt.classification.transient
    assert (result.failure.evidence or "").startswith("event: ")
    assert attempt.cli_retries.count >= 2
    assert took < 30, "not the CLI's ten retries"


def test_a_stream_that_stops_after_message_start_is_stalled(tmp_path: Path) -> None:
    config = USER_PROFILE + "    stall_timeout: 3s\n"
    _, result, _, took = run_live(tmp_path, [StallTurn(hold=60)], config, max_attempts=1)
    assert result.status == "exhausted", result.failure
    assert result.failure is not None and result.failure.kind == "stalled"
    (attempt,) = result.attempts
    assert attempt.run.stopped_by == "stalled" and attempt.classification.transient
    assert "no output, no event" in (result.failure.evidence or "")
    assert "last event" in (result.failure.evidence or "")
    assert attempt.model_invoked is not True  # no token was reported
    assert took < 60, "stopped by the stall, not by the stub hanging up"


def test_a_stalled_attempt_is_retried_within_the_budget(tmp_path: Path) -> None:
    config = USER_PROFILE + "    stall_timeout: 3s\n"
    _, result, _, _ = run_live(tmp_path, [StallTurn(hold=60), TextTurn("done")], config)
    assert result.status == "succeeded", result.failure
    assert [a.classification.kind for a in result.attempts] == ["stalled", "succeeded"]


def test_a_running_cost_past_the_cap_stops_the_attempt_and_keeps_the_work(
        tmp_path: Path) -> None:
    # claude-opus-4-8 at list price: 200k input tokens are $1.00 a turn; the cap is $1.50.
    turns: list[Turn] = [write("a.txt", "A\n", input_tokens=200_000),
                         write("b.txt", "B\n", input_tokens=200_000), TextTurn("done")]
    _, result, worktree, _ = run_live(tmp_path, turns, USER_PROFILE,
                                      budget=Budget(max_cost_usd=1.5))
    assert result.status == "failed", result.failure
    assert result.failure is not None and result.failure.kind == "budget_exceeded"
    (attempt,) = result.attempts
    assert attempt.run.stopped_by == "max_cost_usd"
    assert "passed the cap $1.5000" in (result.failure.evidence or "")
    assert attempt.model_invoked is True
    assert (worktree / "a.txt").read_text() == "A\n", "the work so far is kept"


def test_the_turn_cap_stops_the_attempt_and_keeps_the_work(tmp_path: Path) -> None:
    turns: list[Turn] = [write("a.txt", "A\n"), write("b.txt", "B\n"), TextTurn("done")]
    _, result, worktree, _ = run_live(tmp_path, turns, USER_PROFILE, budget=Budget(max_turns=1))
    assert result.status == "failed", result.failure
    assert result.failure is not None and result.failure.kind == "max_turns"
    (attempt,) = result.attempts
    assert attempt.run.stopped_by == "max_turns" and attempt.model_invoked is True
    assert (worktree / "a.txt").read_text() == "A\n"


def test_the_ready_profile_hands_the_turn_cap_to_the_cli_as_well(tmp_path: Path) -> None:
    turns: list[Turn] = [write("a.txt", "A\n"), write("b.txt", "B\n"), TextTurn("done")]
    _, result, _, _ = run_live(tmp_path, turns, "repos: [{url: /x}]\nagents: {claude: {}}\n",
                               budget=Budget(max_turns=1, max_cost_usd=5.0))
    assert result.failure is not None and result.failure.kind == "max_turns", result.failure
    argv = result.attempts[0].run.argv
    assert argv[argv.index("--max-turns") + 1] == "1"
    assert argv[argv.index("--max-budget-usd") + 1] == "5.0000"


def test_a_transient_fault_after_two_tool_calls_resumes_the_same_session(
        tmp_path: Path) -> None:
    # The ready profile, its CLI retries off so that the 529 ends the first attempt.
    config = ("repos: [{url: /x}]\nagents:\n  claude:\n    extends: claude\n"
              "    env: {CLAUDE_CODE_MAX_RETRIES: '0'}\n")
    turns: list[Turn] = [write("a.txt", "A\n"), write("b.txt", "B\n"), overloaded(),
                         TextTurn("done")]
    stub, result, worktree, _ = run_live(tmp_path, turns, config)
    assert result.status == "succeeded", result.failure
    first, second = result.attempts
    assert first.classification.kind == "overloaded" and first.model_invoked is True
    session = first.report.session_id
    assert session and second.resumed_from == session
    assert second.run.argv[-2:] == ("--resume", session)
    mains = stub.main_requests
    assert {r.headers.get("x-claude-code-session-id") for r in mains} == {session}
    assert len(mains[-1].tool_results()) == 2, "the resumed request carries the history"
    changed = subprocess.run(["git", "status", "--porcelain"], cwd=worktree, check=True,
                             capture_output=True, text=True).stdout
    assert "a.txt" in changed and "b.txt" in changed


def test_a_resume_the_cli_refuses_falls_back_to_a_fresh_run(tmp_path: Path) -> None:
    config = ("repos: [{url: /x}]\nagents:\n  claude:\n    extends: claude\n"
              "    env: {CLAUDE_CODE_MAX_RETRIES: '0'}\n")
    home = tmp_path / "home"

    def forget_sessions(attempt: Attempt) -> None:  # the session is gone before the resume
        shutil.rmtree(home / ".claude" / "projects", ignore_errors=True)

    turns: list[Turn] = [write("a.txt", "A\n"), overloaded(), TextTurn("done")]
    _, result, worktree, _ = run_live(tmp_path, turns, config, between=forget_sessions)
    assert result.status == "succeeded", result.failure
    first, second = result.attempts
    assert first.report.session_id and second.resumed_from is None
    assert second.resume_refused == first.report.session_id
    assert "--resume" not in second.run.argv
    assert (worktree / "a.txt").read_text() == "A\n"
