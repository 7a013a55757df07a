"""`mtor-git run` (one spec here, no claim) runs its agent in the same sandbox as the daemon: the
agent gets a private HOME and the result records the sandbox; `sandbox: none` says so on stderr."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from daemonfixtures import DAEMON_ENV, Site, mtor, site, spec
from hostilefixtures import worker_config

from mtor_git.agent.sandbox import find_bwrap

FAKE = Path(__file__).resolve().parents[1] / "fake_agents" / "fake_agent.py"


@pytest.fixture
def s(tmp_path: Path) -> Iterator[Site]:
    with site(tmp_path) as running:
        yield running


Ran = tuple[subprocess.CompletedProcess[str], dict[str, object]]


def run_here(s: Site, **extra: Any) -> Ran:
    agents = {"dump": {"command": [sys.executable, str(FAKE), "env-dump"],
                       "report": "text"}}
    config = worker_config(s, "local", agents, default_agent="dump", **extra)
    task = s.user / "tasks" / "look.md"
    task.parent.mkdir(exist_ok=True)
    task.write_bytes(spec())
    proc = subprocess.run(mtor("run", str(task), "--config", str(config), "--json"), cwd=s.user,
                          env={**DAEMON_ENV, "HOME": str(s.root / "home")}, capture_output=True,
                          text=True, timeout=120)
    result: dict[str, object] = json.loads(proc.stdout)
    return proc, result


def agent_env(result: dict[str, object]) -> dict[str, str]:
    attempts = result["attempts"]
    assert isinstance(attempts, list)
    env: dict[str, str] = json.loads(attempts[0]["stdout"]["head"])
    return env


@pytest.mark.skipif(find_bwrap() is None, reason="bubblewrap is not installed")
def test_run_uses_the_sandbox(s: Site) -> None:
    (s.root / "home").mkdir()
    _, result = run_here(s)
    assert result["sandbox"] == "bwrap"
    env = agent_env(result)
    assert env["TMPDIR"] == "/tmp" and env["HOME"] == os.path.realpath(s.root / "home")


def test_run_with_sandbox_none_says_so(s: Site) -> None:
    proc, result = run_here(s, sandbox="none")
    assert result["sandbox"] == "none"
    assert "sandbox: none" in proc.stderr
