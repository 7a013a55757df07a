"""A follow-up with the real Claude Code CLI through the real daemon (in its sandbox), against the
loopback stub: it resumes the session of the task it continues (`--resume <id>`, the id from that
task's result), since it works in the same checkout directory (Claude Code keeps sessions per
project directory) and the CLI's config directory is shared (`CLAUDE_CONFIG_DIR`, shown
writable): the stub sees one session, and the follow-up's first request carries the first task's
conversation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from anthropic_stub import AnthropicStub, TextTurn, ToolUseTurn, Turn
from clifixtures import daemon_once, install_dir, require_cli
from daemonfixtures import site, spec

pytestmark = pytest.mark.slow
FAKE_KEY = "sk-ant-stub-followup-0123456789abcdef"


def test_a_followup_asks_claude_to_resume_the_targets_session(tmp_path: Path) -> None:
    claude = require_cli("claude")  # skipped with the install command; a failure in CI
    turns: list[Turn] = [ToolUseTurn("Write", {"file_path": "a.txt", "content": "A\n"}),
                         TextTurn("done"),
                         ToolUseTurn("Write", {"file_path": "b.txt", "content": "B\n"}),
                         TextTurn("more done")]
    with site(tmp_path) as s, AnthropicStub(turns) as stub:
        home = s.root / "home"
        (home / ".claude").mkdir(parents=True)
        agent: dict[str, Any] = {"extends": "claude", "env": {"CLAUDE_CODE_MAX_RETRIES": "0"},
                                 "sandbox_paths": [install_dir(claude),
                                                   {"path": str(home / ".claude"), "mode": "rw"}]}
        config = s.config("w1", default_agent="claude", extra={"agents": {"claude": agent}})
        s.push_specs({"first": spec("Write a.txt.\n"),
                      "second": spec("Write b.txt.\n", continues="first")}, "two")
        daemon_once(config, s.root, {"ANTHROPIC_BASE_URL": stub.base_url,
                                     "ANTHROPIC_API_KEY": FAKE_KEY, "HOME": str(home),
                                     "CLAUDE_CONFIG_DIR": str(home / ".claude")},
                    bin_dir=claude.parent)
        first = s.result("first")
        second = s.result("second", branch="mtor/first")
        mains = stub.main_requests
    session = first["attempts"][0]["report"]["session_id"]
    assert session and second["status"] == "succeeded", second["failure"]
    (attempt,) = second["attempts"]
    assert attempt["resumed_from"] == session and attempt["argv"][-2:] == ["--resume", session]
    assert {r.headers.get("x-claude-code-session-id") for r in mains} == {session}
    follow = next(r for r in mains if any("Write b.txt." in t for t in r.user_texts()))
    assert any("Write a.txt." in t for t in follow.user_texts()), "the first task's prompt"
    assert follow.tool_results(), "and its tool result, in the resumed conversation"
