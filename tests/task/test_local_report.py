"""`mtor-git run` reports what the agent left in the worktree, committed or not (files it wrote
without `git add` included), where it ran, and the agent's own closing summary; the worker's
result and its PR body carry that summary too."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from daemonfixtures import DAEMON_ENV, FAKE_AGENT, site, spec
from gitfixtures import git, make_bare_remote, user_clone
from sandboxfixtures import with_toolchain


def _config(tmp_path: Path) -> Path:
    config = tmp_path / "config.yaml"
    config.write_text(json.dumps({
        "worker_id": "local", "workspace": str(tmp_path / "ws"),
        "state_dir": str(tmp_path / "state"), "runtime_dir": str(tmp_path / "run"),
        "repos": [{"url": str(tmp_path / "remote.git")}], "default_agent": "fake",
        "agents": {"fake": with_toolchain({"command": [str(FAKE_AGENT), "success"],
                                           "report": "claude-json"})},
        "retry": {"min_model_call": "0s"}, "log": {"file": "none"}}))
    return config


def _run(tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    clone = user_clone(make_bare_remote(tmp_path / "remote.git"), tmp_path / "user")
    (clone / "tasks").mkdir()
    (clone / "tasks" / "t1.md").write_bytes(spec())
    return subprocess.run([sys.executable, "-m", "mtor_git", "run", "tasks/t1.md", "--config",
                           str(_config(tmp_path)), *extra], cwd=clone, env=DAEMON_ENV,
                          capture_output=True, text=True, timeout=120)


def test_run_reports_the_untracked_file_the_agent_wrote(tmp_path: Path) -> None:
    done = _run(tmp_path, "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    files = {f["path"]: f["status"] for f in result["changes"]["files"]}
    assert files.get("AGENT_EDIT.md") == "added", files
    assert "tasks/t1.md" in files  # the spec itself is new in this worktree too
    head = git("rev-parse", "HEAD", cwd=tmp_path / "user")
    assert result["base_commit"] == head


def test_run_text_names_the_worktree_and_the_agents_summary(tmp_path: Path) -> None:
    done = _run(tmp_path)
    assert done.returncode == 0, done.stderr
    assert "No files changed." not in done.stdout
    assert "`AGENT_EDIT.md` | added" in done.stdout
    assert "(local)" not in done.stdout and "from `?`" not in done.stdout
    assert "local run in the worktree at `" in done.stdout
    assert "Done: edited AGENT_EDIT.md" in done.stdout  # the agent's own closing message


def test_worker_result_and_pr_body_carry_the_agents_summary(tmp_path: Path) -> None:
    with site(tmp_path) as s:
        s.push_specs({"t1": spec(agent="fake")})
        s.run_once(s.config("w1"))
        body = git("show", "mtor/t1:results/t1.md", cwd=s.remote)
        assert "### The agent's summary" in body and "> Done: edited AGENT_EDIT.md" in body
        shown = subprocess.run([sys.executable, "-m", "mtor_git", "result", "t1"], cwd=s.user,
                               env=DAEMON_ENV, capture_output=True, text=True, timeout=60)
        assert shown.returncode == 0, shown.stderr
        assert "summary   Done: edited AGENT_EDIT.md" in shown.stdout
