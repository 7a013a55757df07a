"""The ready `claude` profile with the real Claude Code CLI through the real daemon (`mtor-git
daemon --once` over `git daemon` on loopback) against tests/anthropic_stub.py: its Write lands on
mtor/<id> with tokens recorded, and the same Write refused (a profile without `--permission-mode
acceptEdits`) is `edit_blocked` with the denial quoted, never `succeeded`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from anthropic_stub import AnthropicStub, write_file
from clifixtures import daemon_once, install_dir, require_cli
from daemonfixtures import Site, site, spec
from gitfixtures import git

FAKE_KEY = "sk-ant-stub-daemon-0123456789abcdef"
NO_ACCEPT_EDITS = {"extends": "claude", "command": ["claude", "-p", "--output-format", "json"]}


@pytest.fixture
def claude() -> Path:
    return require_cli("claude")


@pytest.fixture
def s(tmp_path: Path) -> Iterator[Site]:
    with site(tmp_path) as running:
        yield running


def run_claude_task(s: Site, claude: Path, agent: dict[str, Any]) -> dict[str, Any]:
    s.push_specs({"t1": spec("Write notes/claude.txt.\n", agent="claude")})
    home = s.root / "home"
    home.mkdir()
    agent = {**agent, "sandbox_paths": [install_dir(claude)]}
    config = s.config("w1", default_agent="claude", extra={"agents": {"claude": agent}})
    with AnthropicStub(write_file("notes/claude.txt", "written by claude\n")) as stub:
        daemon_once(config, s.root, {"ANTHROPIC_BASE_URL": stub.base_url,
                                     "ANTHROPIC_API_KEY": FAKE_KEY, "HOME": str(home),
                                     "CLAUDE_CONFIG_DIR": str(home / ".claude")},
                    bin_dir=claude.parent)
    return s.result("t1")


def test_claude_write_lands_on_the_branch_and_succeeds(s: Site, claude: Path) -> None:
    result = run_claude_task(s, claude, {"extends": "claude"})
    assert result["status"] == "succeeded", result["failure"]
    assert git("show", "mtor/t1:notes/claude.txt", cwd=s.remote) == "written by claude"
    assert (result["usage"]["input_tokens"] or 0) > 0


def test_a_write_claude_was_not_permitted_is_edit_blocked(s: Site, claude: Path) -> None:
    result = run_claude_task(s, claude, NO_ACCEPT_EDITS)
    assert result["status"] == "failed", "a refused edit must never be `succeeded`"
    assert result["failure"]["kind"] == "edit_blocked"
    assert "Write denied" in result["failure"]["evidence"]
    assert "notes/claude.txt" in result["failure"]["evidence"]
    assert len(result["attempts"]) == 1
