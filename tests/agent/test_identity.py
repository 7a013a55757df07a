"""The identity the worker gives an agent, through the environment only: `git config` answers with
it (aider asks before it commits) and `git commit` uses it, and no config file is written."""

from __future__ import annotations

import subprocess
from pathlib import Path

from gitfixtures import GIT_ENV

from mtor_git.agent.identity import IDENTITY_ENV, identity_env
from mtor_git.agent.profiles import BUILTIN
from mtor_git.agent.spawn import build_env

NAME, EMAIL = "Worker Bot", "worker-bot@example.invalid"


def agent_git(repo: Path, *args: str) -> str:
    """git as the agent runs it: a private HOME with no configuration, the worker's identity."""
    env = {**GIT_ENV, "HOME": str(repo.parent / "home"), "GIT_CONFIG_NOSYSTEM": "1",
           **identity_env(NAME, EMAIL)}
    return subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True,
                          text=True).stdout.strip()


def test_git_config_answers_with_the_worker_given_identity(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    agent_git(repo, "init", "-q")
    assert agent_git(repo, "config", "--get", "user.name") == NAME
    assert agent_git(repo, "config", "--get", "user.email") == EMAIL
    assert "user" not in (repo / ".git" / "config").read_text()


def test_the_agents_commit_is_authored_and_committed_by_it(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    agent_git(repo, "init", "-q")
    (repo / "a.txt").write_text("a\n")
    agent_git(repo, "add", "a.txt")
    agent_git(repo, "commit", "-q", "-m", "agent work")
    assert agent_git(repo, "log", "-1", "--format=%an <%ae>|%cn <%ce>") == (
        f"{NAME} <{EMAIL}>|{NAME} <{EMAIL}>")


def test_every_profile_passes_the_identity_it_is_given() -> None:
    environ = {"PATH": "/usr/bin", **identity_env(NAME, EMAIL), "UNRELATED": "x"}
    for profile in BUILTIN.values():
        env = build_env(profile, environ)
        assert {k: env[k] for k in IDENTITY_ENV} == identity_env(NAME, EMAIL)
        assert "UNRELATED" not in env
