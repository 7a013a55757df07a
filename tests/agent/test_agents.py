"""Report parsers: facts from each agent's own words, and never an exception on garbage."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st
from runner_fixtures import base_environ, fake_profile, git_worktree

from mtor_git.agent.evidence import Captured, Run
from mtor_git.agent.reports import parse_report
from mtor_git.agent.spawn import RunRequest, run_attempt

FORMATS = ("claude-json", "codex-jsonl", "aider", "text", "no-such-format")


def run_of(stdout: str = "", stderr: str = "", exit_code: int | None = 0) -> Run:
    return Run(argv=("agent",), cwd="/w", env_names=(), started_at=0.0, duration=5.0,
               exit_code=exit_code,
               stdout=Captured(total_bytes=len(stdout.encode()), head=stdout),
               stderr=Captured(total_bytes=len(stderr.encode()), head=stderr))


def real_run(tmp_path: Path, mode: str, report: str) -> Run:
    wt = git_worktree(tmp_path / "wt")
    req = RunRequest(fake_profile(mode, report=report), "do it", wt, environ=base_environ(),
                     timeout=30.0)
    return run_attempt(req)


# --- never raise -----------------------------------------------------------------------------

@given(st.sampled_from(FORMATS), st.text(max_size=2000), st.text(max_size=500))
def test_parsers_never_raise_on_arbitrary_text(fmt: str, stdout: str, stderr: str) -> None:
    report = parse_report(fmt, run_of(stdout, stderr, exit_code=1))
    assert report.format == fmt
    assert len(report.messages) <= 20


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner,
                                                                 max_size=4),
    max_leaves=20)
claude_keys = st.sampled_from(["type", "subtype", "is_error", "num_turns", "total_cost_usd",
                               "usage", "session_id", "api_error_status", "permission_denials",
                               "terminal_reason", "result", "errors"])


@given(st.sampled_from(FORMATS), st.dictionaries(claude_keys, json_values, max_size=12))
def test_parsers_never_raise_on_json_of_the_wrong_shape(fmt: str, obj: dict[str, object]) -> None:
    text = json.dumps(obj)
    for stdout in (text, text + "\n" + text, "noise\n" + text):
        parse_report(fmt, run_of(stdout))


@given(st.text(max_size=300).filter(lambda t: not t.lstrip().startswith("{")))
def test_claude_without_a_json_object_is_not_parsed(stdout: str) -> None:
    assert parse_report("claude-json", run_of(stdout, exit_code=1)).parsed is False


# --- Claude Code -----------------------------------------------------------------------------

@given(
    is_error=st.booleans(),
    turns=st.integers(min_value=0, max_value=10_000),
    cost=st.floats(min_value=0, max_value=1000, allow_nan=False),
    tokens=st.integers(min_value=0, max_value=10**9),
    denials=st.integers(min_value=0, max_value=5),
    status=st.none() | st.sampled_from([401, 429, 500, 529]),
    result=st.text(max_size=200),
    session=st.text(min_size=1, max_size=40),
)
def test_claude_json_facts_round_trip(is_error: bool, turns: int, cost: float, tokens: int,
                                      denials: int, status: int | None, result: str,
                                      session: str) -> None:
    obj = {"type": "result", "subtype": "success", "is_error": is_error, "num_turns": turns,
           "total_cost_usd": cost, "usage": {"input_tokens": tokens, "output_tokens": 7},
           "session_id": session, "api_error_status": status, "result": result,
           "permission_denials": [{"tool_name": "Write"}] * denials,
           "terminal_reason": "completed"}
    report = parse_report("claude-json", run_of(json.dumps(obj)))
    assert report.parsed
    assert (report.is_error, report.num_turns, report.cost_usd) == (is_error, turns, cost)
    assert report.usage == {"input_tokens": tokens, "output_tokens": 7}
    assert (report.session_id, report.api_error_status) == (session, status)
    assert report.permission_denials == denials
    assert report.terminal_reason == "completed"
    if is_error and result.strip():
        assert result.strip()[:500] in report.messages[0]


def test_claude_last_result_line_wins_over_noise() -> None:
    stdout = 'starting\n{"type":"system"}\n{"type":"result","is_error":true,"num_turns":0,' \
             '"api_error_status":429,"result":"API Error: Request rejected (429)"}\n'
    report = parse_report("claude-json", run_of(stdout, exit_code=1))
    assert report.parsed and report.is_error and report.api_error_status == 429
    assert report.model_invoked is False


def test_claude_usage_error_on_a_positional_frontmatter_is_not_a_report(tmp_path: Path) -> None:
    wt = git_worktree(tmp_path / "wt")
    profile = fake_profile("success", "---\ntitle: x")  # the incident: a positional frontmatter
    run = run_attempt(RunRequest(profile, "x", wt, environ=base_environ(), timeout=30.0))
    report = parse_report("claude-json", run)
    assert run.exit_code == 1 and run.stdout.total_bytes == 0
    assert not report.parsed
    assert report.messages == ("error: unknown option '---",)


def test_claude_permission_denials_with_exit_zero_are_reported(tmp_path: Path) -> None:
    report = parse_report("claude-json", real_run(tmp_path, "denied", "claude-json"))
    assert report.parsed and report.is_error is False
    assert report.permission_denials == 2


def test_claude_529_has_null_status_and_the_message(tmp_path: Path) -> None:
    report = parse_report("claude-json", real_run(tmp_path, "529", "claude-json"))
    assert report.is_error and report.api_error_status is None
    assert any("Repeated 529 Overloaded" in m for m in report.messages)


# --- Codex -----------------------------------------------------------------------------------

def test_codex_success_sums_usage_and_ignores_reconnecting(tmp_path: Path) -> None:
    report = parse_report("codex-jsonl", real_run(tmp_path, "codex", "codex-jsonl"))
    assert report.parsed and report.is_error is False
    assert report.num_turns == 1 and report.session_id == "th-1"
    assert report.usage == {"input_tokens": 900, "cached_input_tokens": 100, "output_tokens": 80}
    assert report.messages == ()
    assert report.result_text == "All done."
    assert report.model_invoked is True


def test_codex_turn_failed_is_an_error_with_its_message(tmp_path: Path) -> None:
    report = parse_report("codex-jsonl", real_run(tmp_path, "codex-fail", "codex-jsonl"))
    assert report.is_error and report.terminal_reason == "turn.failed"
    assert report.messages == ("exceeded retry limit, last status: 429 Too Many Requests",)


def test_codex_only_reconnecting_is_not_final() -> None:
    stdout = '{"type":"thread.started","thread_id":"t"}\n' \
             '{"type":"error","message":"Reconnecting... 3/5 (timeout)"}\n'
    report = parse_report("codex-jsonl", run_of(stdout))
    assert report.parsed and report.is_error is None and report.messages == ()


# --- aider -----------------------------------------------------------------------------------

def test_aider_tokens_and_session_cost(tmp_path: Path) -> None:
    report = parse_report("aider", real_run(tmp_path, "aider-success", "aider"))
    assert report.parsed and report.is_error is False
    assert report.usage == {"input_tokens": 1200, "output_tokens": 300}
    assert report.cost_usd == 0.02 and report.num_turns == 1


def test_aider_exit_zero_with_error_text_is_an_error(tmp_path: Path) -> None:
    run = real_run(tmp_path, "aider-error", "aider")
    report = parse_report("aider", run)
    assert run.exit_code == 0
    assert report.is_error is True
    assert report.messages[0].startswith("litellm.AuthenticationError:")


@given(sent=st.integers(min_value=0, max_value=10**6), recv=st.integers(min_value=0,
                                                                          max_value=10**6))
def test_aider_token_counts_round_trip(sent: int, recv: int) -> None:
    text = f"Tokens: {sent:,} sent, {recv} received. Cost: $0.00 message, $0.50 session.\n"
    report = parse_report("aider", run_of(text))
    assert report.usage == {"input_tokens": sent, "output_tokens": recv}


# --- text ------------------------------------------------------------------------------------

def test_text_collects_error_lines_only() -> None:
    report = parse_report("text", run_of("all fine\nworking\n", "Error: boom\nnote\n", 1))
    assert report.parsed is False and report.messages == ("Error: boom",)


def test_exit_zero_chatter_is_not_an_error_message() -> None:
    chatter = "Checked: no error found\nretrying nothing; 429 lines scanned\n"
    assert parse_report("text", run_of(chatter, "warning: deprecated flag")).messages == ()
    report = parse_report("claude-json", run_of('{"type":"result","is_error":false}',
                                                "npm WARN something failed"))
    assert report.messages == ()


def test_exit_zero_line_that_opens_as_an_error_is_kept() -> None:
    report = parse_report("text", run_of("working\nError: model call failed\n"))
    assert report.messages == ("Error: model call failed",)
