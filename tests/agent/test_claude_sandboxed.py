"""The real `claude` CLI inside the attempt sandbox, against the local Anthropic stub: it answers,
writes its file into the checkout through a Write tool call, keeps its state in the private HOME,
and sees nothing of the worker's places."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from anthropic_stub import AnthropicStub, TextTurn, write_file
from clifixtures import install_dir
from runner_fixtures import git_worktree
from test_claude_real import CLAUDE, claude_environ

from mtor_git.agent.profiles import BUILTIN
from mtor_git.agent.reports import parse_report
from mtor_git.agent.sandbox import Sandbox, SandboxPath, find_bwrap, worker_hides
from mtor_git.agent.spawn import RunRequest, run_attempt

BWRAP = find_bwrap()
pytestmark = pytest.mark.skipif(CLAUDE is None or BWRAP is None,
                                reason="needs the real claude CLI and bubblewrap")


def sandboxed(tmp_path: Path) -> Sandbox:
    assert BWRAP is not None
    state = tmp_path / "state"
    state.mkdir()
    (state / "worker-secret.txt").write_text("never for the agent\n")
    return Sandbox("bwrap", BWRAP, worker_hides(tmp_path / "ws", state),
                   scratch=tmp_path / "ws" / ".attempts")


def request(tmp_path: Path, stub: AnthropicStub, worktree: Path) -> RunRequest:
    # The builtin profile, with the CLI's install dir declared, as a user whose CLI lies under a
    # folder the sandbox hides (this checkout, when cloned into /tmp) declares it.
    assert CLAUDE is not None
    profile = dataclasses.replace(BUILTIN["claude"],
                                  sandbox_paths=(SandboxPath(Path(install_dir(CLAUDE))),))
    return RunRequest(profile, "Write the notes.", worktree, timeout=120.0,
                      environ=claude_environ(tmp_path / "home", stub),
                      sandbox=sandboxed(tmp_path))


def test_claude_answers_inside_the_sandbox(tmp_path: Path) -> None:
    worktree = git_worktree(tmp_path / "ws" / "checkout")
    with AnthropicStub([TextTurn("All done, from the stub.")]) as stub:
        run = run_attempt(request(tmp_path, stub, worktree))
    report = parse_report("claude-json", run)
    assert run.exit_code == 0, run.stdout.text() + run.stderr.text()
    assert report.result_text == "All done, from the stub."
    assert list((tmp_path / "ws" / ".attempts").iterdir()) == []  # private HOME removed


def test_claude_writes_its_file_into_the_checkout(tmp_path: Path) -> None:
    worktree = git_worktree(tmp_path / "ws" / "checkout")
    with AnthropicStub(write_file("notes/out.txt", "written\n")) as stub:
        run = run_attempt(request(tmp_path, stub, worktree))
    assert run.exit_code == 0, run.stdout.text() + run.stderr.text()
    assert (worktree / "notes" / "out.txt").read_text() == "written\n"
    assert parse_report("claude-json", run).permission_denials == 0
    # Its config dir lived in the private HOME, never in the daemon's.
    assert not (tmp_path / "home" / ".claude").exists()
