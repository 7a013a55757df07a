"""An agent inside the attempt sandbox can start a sandbox of its own (Codex's Linux sandbox is
bubblewrap), and its CLI's state directory named by the profile (CODEX_HOME) is writable there,
while the rest of the daemon's home stays hidden."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from runner_fixtures import base_environ, git_worktree

from mtor_git.agent.profiles import AgentProfile
from mtor_git.agent.sandbox import Sandbox, find_bwrap, worker_hides
from mtor_git.agent.spawn import RunRequest, run_attempt

BWRAP = find_bwrap()
pytestmark = pytest.mark.skipif(BWRAP is None, reason="bubblewrap is not installed")


def boxed(tmp_path: Path) -> Sandbox:
    assert BWRAP is not None
    return Sandbox("bwrap", BWRAP, worker_hides(tmp_path / "ws", tmp_path / "state"),
                   scratch=tmp_path / "ws" / ".attempts")


def attempt(tmp_path: Path, profile: AgentProfile, environ: dict[str, str] | None = None,
            ) -> tuple[int | None, str]:
    checkout = git_worktree(tmp_path / "ws" / "checkout")
    run = run_attempt(RunRequest(profile, "go", checkout, timeout=30.0,
                                 environ={**base_environ(), **(environ or {})},
                                 sandbox=boxed(tmp_path)))
    return run.exit_code, run.stdout.text() + run.stderr.text()


def test_an_agent_can_start_its_own_bubblewrap_inside_the_attempt_sandbox(
        tmp_path: Path) -> None:
    assert BWRAP is not None
    inner = (BWRAP, "--ro-bind", "/", "/", "--dev", "/dev", "--tmpfs", "/tmp",
             "--unshare-user", "--unshare-pid", "--die-with-parent", "--", "/bin/sh", "-c",
             "echo nested-ok")
    code, output = attempt(tmp_path, AgentProfile("nested", inner))
    assert code == 0, output
    assert "nested-ok" in output


def test_the_profiles_state_dir_is_writable_inside(tmp_path: Path) -> None:
    state = Path.home() / f".mtor-test-state-{tmp_path.name}"  # under the hidden home
    state.mkdir()
    try:
        writer = AgentProfile("writer", ("/bin/sh", "-c", 'echo kept > "$TOOL_HOME/state.txt"'),
                              pass_env=("TOOL_HOME",))
        code, output = attempt(tmp_path, replace(writer, state_env=("TOOL_HOME",)),
                               {"TOOL_HOME": str(state)})
        assert code == 0, output
        assert (state / "state.txt").read_text() == "kept\n"
        code, _ = attempt(tmp_path / "again", writer, {"TOOL_HOME": str(state)})
        assert code != 0, "without state_env the directory is hidden or read-only"
    finally:
        shutil.rmtree(state, ignore_errors=True)
