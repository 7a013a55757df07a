"""A CLI's state dir (the ready codex profile's CODEX_HOME) is the task's own copy inside the
attempt sandbox: one task's agent cannot read an earlier task's sessions nor change the config
the tasks after it start with (found by a hostile review of this round)."""

from __future__ import annotations

from pathlib import Path

import pytest
from daemonfixtures import TESTS, site, spec
from gitfixtures import git
from hostilefixtures import run_daemon_once, worker_config

pytestmark = pytest.mark.slow
AGENT = TESTS / "fake_agents" / "state_agent.py"


def test_each_task_gets_its_own_copy_of_the_clis_state_dir(tmp_path: Path) -> None:
    shared = tmp_path / "codex-home"  # outside the sandbox's covered places
    (shared / "sessions").mkdir(parents=True)
    (shared / "config.toml").write_text('model_provider = "mine"\n')
    (shared / "sessions" / "earlier-task.jsonl").write_text('{"secret": "prompt"}\n')
    with site(tmp_path / "site") as s:
        profile = {"extends": "codex", "command": [str(AGENT)], "report": "claude-json",
                   "sandbox_paths": [{"path": str(AGENT.parent), "mode": "ro"}],
                   "requires_env": [], "pass_env": ["CODEX_HOME"]}
        config = worker_config(s, "w1", {"cx": profile}, default_agent="cx",
                               retry={"max_attempts": 1}, sandbox="bwrap")
        s.push_specs({"t1": spec(), "t2": spec()})
        run_daemon_once(s, config, {"CODEX_HOME": str(shared)})
        seen = {t: git("show", f"mtor/{t}:SEEN.md", cwd=s.remote).split() for t in ("t1", "t2")}
        assert s.results() == {"t1": "succeeded", "t2": "succeeded"}
    for names in seen.values():
        assert names == ["config.toml"], names  # its login and config, no one's sessions
    assert (shared / "config.toml").read_text() == 'model_provider = "mine"\n'
    assert sorted(p.name for p in (shared / "sessions").iterdir()) == ["earlier-task.jsonl"]
