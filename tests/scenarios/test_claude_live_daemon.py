"""Live evidence through the real daemon and the real Claude Code CLI: a resume after a transient
fault (the CLI writes two files, the provider then answers 529, the next attempt resumes the same
session in the same checkout; the result says so and its diff holds the first attempt's files),
and a cost cap crossed mid-session (stopped there, the work so far on the result branch).

The first two run with `sandbox: none` and a HOME of the test's; the last runs in the bubblewrap
sandbox, whose private HOME is the task's (kept across its attempts), so the resume works there
too."""

from __future__ import annotations

import os
from pathlib import Path

from anthropic_stub import AnthropicStub, TextTurn, ToolUseTurn, Turn, overloaded
from clifixtures import require_cli
from daemonfixtures import site, spec


def profile(claude: Path, home: Path, stub: AnthropicStub) -> dict[str, object]:
    home.mkdir()
    return {"extends": "claude", "env": {
        "PATH": f"{claude.parent}{os.pathsep}/usr/bin:/bin", "HOME": str(home),
        "CLAUDE_CONFIG_DIR": str(home / ".claude"), "ANTHROPIC_BASE_URL": stub.base_url,
        "ANTHROPIC_API_KEY": "sk-ant-stub-live", "CLAUDE_CODE_MAX_RETRIES": "0"}}


def test_a_running_cost_past_the_cap_stops_the_task_with_its_work_on_the_branch(
        tmp_path: Path) -> None:
    claude = require_cli("claude")
    # claude-opus-4-8 at list price: 200k input tokens are $1.00 a turn; the cap is $1.50.
    turns: list[Turn] = [
        ToolUseTurn("Write", {"file_path": "a.txt", "content": "A\n"},
                    usage={"input_tokens": 200_000}),
        ToolUseTurn("Write", {"file_path": "b.txt", "content": "B\n"},
                    usage={"input_tokens": 200_000}), TextTurn("done")]
    with site(tmp_path) as s, AnthropicStub(turns) as stub:
        config = s.config("w1", default_agent="claude", extra={
            "sandbox": "none",
            "agents": {"claude": profile(claude, tmp_path / "claude-home", stub)}})
        s.push_specs({"capped": spec("Write a.txt and b.txt.\n", max_cost_usd=1.5)})
        s.run_once(config, timeout=180)
        result = s.result("capped")
    assert result["status"] == "failed"
    assert result["failure"]["kind"] == "budget_exceeded", result["failure"]
    (attempt,) = result["attempts"]
    assert attempt["model_invoked"] is True
    assert "a.txt" in {f["path"] for f in result["changes"]["files"]}


def test_a_transient_fault_is_resumed_and_the_first_files_are_in_the_result(
        tmp_path: Path) -> None:
    claude = require_cli("claude")  # skipped with the install command; a failure in CI
    turns: list[Turn] = [ToolUseTurn("Write", {"file_path": "a.txt", "content": "A\n"}),
                         ToolUseTurn("Write", {"file_path": "b.txt", "content": "B\n"}),
                         overloaded(), TextTurn("done")]
    with site(tmp_path) as s, AnthropicStub(turns) as stub:
        config = s.config("w1", default_agent="claude", extra={
            "sandbox": "none",
            "agents": {"claude": profile(claude, tmp_path / "claude-home", stub)}})
        s.push_specs({"resume-me": spec("Write a.txt and b.txt.\n", max_attempts=3)})
        s.run_once(config, timeout=180)
        result = s.result("resume-me")
        sessions = {r.headers.get("x-claude-code-session-id") for r in stub.main_requests}
    assert result["status"] == "succeeded", result.get("failure")
    first, second = result["attempts"]
    assert first["classification"]["kind"] == "overloaded"
    session = first["report"]["session_id"]
    assert session and second["resumed_from"] == session
    assert second["argv"][-2:] == ["--resume", session]
    assert sessions == {session}, "the stub saw one session throughout"
    paths = {f["path"] for f in result["changes"]["files"]}
    assert {"a.txt", "b.txt"} <= paths


def test_inside_the_sandbox_the_task_home_keeps_the_session_and_the_retry_resumes_it(
        tmp_path: Path) -> None:
    """The attempt sandbox gives the task one private HOME for all its attempts (not one per
    attempt): the CLI's session survives the 529 and the second attempt resumes it."""
    claude = require_cli("claude")
    turns: list[Turn] = [ToolUseTurn("Write", {"file_path": "a.txt", "content": "A\n"}),
                         overloaded(), TextTurn("done")]
    with site(tmp_path) as s, AnthropicStub(turns) as stub:
        config = s.config("w1", default_agent="claude", extra={
            "sandbox": "bwrap",
            "agents": {"claude": {"extends": "claude", "env": {
                "PATH": f"{claude.parent}{os.pathsep}/usr/bin:/bin",
                "ANTHROPIC_BASE_URL": stub.base_url, "ANTHROPIC_API_KEY": "sk-ant-stub-live",
                "CLAUDE_CODE_MAX_RETRIES": "0"}}}})
        s.push_specs({"boxed": spec("Write a.txt.\n", max_attempts=3)})
        s.run_once(config, timeout=180)
        result = s.result("boxed")
        sessions = {r.headers.get("x-claude-code-session-id") for r in stub.main_requests}
        leftovers = list((s.root / "workers" / "w1" / "ws" / ".attempts").glob("home-*"))
    assert result["status"] == "succeeded", result.get("failure")
    assert result["sandbox"] == "bwrap"
    first, second = result["attempts"]
    session = first["report"]["session_id"]
    assert session and second["resumed_from"] == session
    assert not second.get("resume_refused")
    assert sessions == {session}
    assert "a.txt" in {f["path"] for f in result["changes"]["files"]}
    assert leftovers == []  # the task's HOME went with its checkout
