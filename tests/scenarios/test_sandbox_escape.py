"""An agent that rewrites its checkout's `.git` between two attempts of its task (a fix round)
to name `/` as its git dir, hoping the next attempt's sandbox shows it the whole host: the worker
never reads a task checkout's own git files for what to show, so the next attempt sees nothing
more than the first (found by a hostile review of this round)."""

from __future__ import annotations

from pathlib import Path

import pytest
from daemonfixtures import TESTS, site, spec
from gitfixtures import git
from hostilefixtures import worker_config

pytestmark = pytest.mark.slow
AGENT = TESTS / "fake_agents" / "escape_agent.py"


def test_a_planted_gitdir_shows_the_next_round_nothing_of_the_worker(tmp_path: Path) -> None:
    with site(tmp_path) as s:
        base = s.root / "workers" / "w1"
        profile = {"command": [str(AGENT)], "report": "claude-json",
                   "sandbox_paths": [{"path": str(AGENT.parent), "mode": "ro"}],
                   "env": {"TARGET_CONFIG": str(base / "config.yaml"),
                           "TARGET_STATE": str(base / "state")}}
        config = worker_config(s, "w1", {"esc": profile}, default_agent="esc",
                               retry={"max_attempts": 1}, sandbox="bwrap")
        s.push_specs({"t": spec(verify="test -f FIXED.md", fix_rounds=1)})
        s.run_once(config)
        stolen = git("show", "mtor/t:STOLEN.md", cwd=s.remote)
        assert "worker_id" not in stolen and stolen.startswith("blocked:")
        assert not (base / "state" / "PWNED-by-agent").exists()
        assert s.result("t")["sandbox"] == "bwrap"
