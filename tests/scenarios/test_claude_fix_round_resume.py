"""A verify fix round with the real Claude Code CLI through the real daemon, against the loopback
stub: the round after a failing check resumes the first round's session (`--resume <id>`), so the
stub sees the same session id and, in the fix round's first request, the first round's
conversation (its prompt and its tool result) before the failing check's report. Without the
sandbox, and inside it: with the CLI's config directory (where it keeps sessions) shown writable,
and without one (the sessions then live in the task's own sandbox HOME, kept across its rounds)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from anthropic_stub import AnthropicStub, TextTurn, ToolUseTurn, Turn
from clifixtures import daemon_once, install_dir, require_cli
from daemonfixtures import site, spec
from gitfixtures import git

pytestmark = pytest.mark.slow
FAKE_KEY = "sk-ant-stub-fixround-0123456789abcdef"


@pytest.mark.parametrize(("sandbox", "config_dir"),
                         [("none", True), ("bwrap", True), ("bwrap", False)])
def test_a_fix_round_resumes_the_claude_session_of_the_first_round(
        tmp_path: Path, sandbox: str, config_dir: bool) -> None:
    claude = require_cli("claude")  # skipped with the install command; a failure in CI
    turns: list[Turn] = [ToolUseTurn("Write", {"file_path": "a.txt", "content": "A\n"}),
                         TextTurn("done"),
                         ToolUseTurn("Write", {"file_path": "FIXED.md", "content": "ok\n"}),
                         TextTurn("fixed")]
    with site(tmp_path) as s, AnthropicStub(turns) as stub:
        home = s.root / "home"
        (home / ".claude").mkdir(parents=True)
        # Without CLAUDE_CONFIG_DIR the CLI keeps its sessions in the task's own sandbox HOME.
        shown: list[Any] = [{"path": str(home / ".claude"), "mode": "rw"}] if config_dir else []
        agent: dict[str, Any] = {"extends": "claude", "env": {"CLAUDE_CODE_MAX_RETRIES": "0"},
                                 "sandbox_paths": [install_dir(claude), *shown]}
        config = s.config("w1", default_agent="claude",
                          extra={"sandbox": sandbox, "agents": {"claude": agent}})
        s.push_specs({"fix": spec("Write a.txt.\n", verify="test -f FIXED.md")})
        env = {"ANTHROPIC_BASE_URL": stub.base_url, "ANTHROPIC_API_KEY": FAKE_KEY,
               "HOME": str(home)}
        if config_dir:
            env["CLAUDE_CONFIG_DIR"] = str(home / ".claude")
        daemon_once(config, s.root, env, bin_dir=claude.parent)
        result = s.result("fix")
        mains = stub.main_requests
    assert (result["status"], result["verified"]) == ("succeeded", True), result["failure"]
    first, second = result["attempts"]
    session = first["report"]["session_id"]
    assert session and second["resumed_from"] == session
    assert second["argv"][-2:] == ["--resume", session]
    assert {r.headers.get("x-claude-code-session-id") for r in mains} == {session}
    fix = next(r for r in mains if any("Verification failed" in t for t in r.user_texts()))
    texts = fix.user_texts()
    first_prompt = [i for i, t in enumerate(texts)
                    if "Write a.txt." in t and "Verification failed" not in t]
    told = [i for i, t in enumerate(texts) if "Verification failed" in t]
    assert first_prompt and first_prompt[0] < told[0], "the first round's prompt comes first"
    assert fix.tool_results(), "the first round's tool result is in the resumed conversation"
    assert git("show", "mtor/fix:a.txt", cwd=s.remote) == "A"
    assert git("show", "mtor/fix:FIXED.md", cwd=s.remote) == "ok"
