"""Resume through the real daemon: the real Claude Code CLI writes two files, the provider then
fails transiently (529), and the next attempt resumes the same CLI session in the same checkout;
the result on the remote says so and its diff holds the first attempt's files.

Runs with `sandbox: none`: the attempt sandbox gives each attempt a private HOME, where the CLI
keeps its sessions, so a sandboxed resume falls back to a fresh run (tests/agent/test_claude_live.py
covers that fallback)."""

from __future__ import annotations

import os
from pathlib import Path

from anthropic_stub import AnthropicStub, TextTurn, ToolUseTurn, Turn, overloaded
from clifixtures import require_cli
from daemonfixtures import site, spec


def test_a_transient_fault_is_resumed_and_the_first_files_are_in_the_result(
        tmp_path: Path) -> None:
    claude = require_cli("claude")  # skipped with the install command; a failure in CI
    turns: list[Turn] = [ToolUseTurn("Write", {"file_path": "a.txt", "content": "A\n"}),
                         ToolUseTurn("Write", {"file_path": "b.txt", "content": "B\n"}),
                         overloaded(), TextTurn("done")]
    with site(tmp_path) as s, AnthropicStub(turns) as stub:
        home = tmp_path / "claude-home"
        home.mkdir()
        profile = {"extends": "claude", "env": {
            "PATH": f"{claude.parent}{os.pathsep}/usr/bin:/bin", "HOME": str(home),
            "CLAUDE_CONFIG_DIR": str(home / ".claude"), "ANTHROPIC_BASE_URL": stub.base_url,
            "ANTHROPIC_API_KEY": "sk-ant-stub-resume", "CLAUDE_CODE_MAX_RETRIES": "0"}}
        config = s.config("w1", default_agent="claude",
                          extra={"sandbox": "none", "agents": {"claude": profile}})
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
