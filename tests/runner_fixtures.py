"""Shared helpers for runner/agents/execute tests: a real git worktree and profiles that run the
fake agent (tests/fake_agents/fake_agent.py, modes documented there)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from mtor_git.agent.profiles import AgentProfile

FAKE_AGENT = Path(__file__).parent / "fake_agents" / "fake_agent.py"


def git_worktree(path: Path) -> Path:
    """A real, empty git repository at `path` (created if needed)."""
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "init", "-q", str(path)], check=True)
    return path.resolve()


def fake_profile(mode: str, *args: str, name: str = "fake", **changes: object) -> AgentProfile:
    """A claude-like profile running the fake agent in `mode` with extra `args`."""
    fields: dict[str, object] = {"name": name, "command": (str(FAKE_AGENT), mode, *args),
                                 "report": "claude-json"}
    fields.update(changes)
    return AgentProfile(**fields)  # type: ignore[arg-type]


def base_environ(**extra: str) -> dict[str, str]:
    """The daemon environment tests draw from: this process's PATH/HOME plus `extra`."""
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    env.update(extra)
    return env


def fake_state(cwd: Path, name: str) -> Path:
    return cwd / ".fake_agent" / name
