"""The ready `aider` profile with the real aider, through the real daemon (`mtor-git daemon --once`
over `git daemon` on loopback) against a loopback mock of the OpenAI Chat Completions API
(tests/openai_stub.py), configured as a user would: `extends: aider`, `AIDER_MODEL` and the
endpoint in the profile's `env`, the key in the daemon's environment.

The branch carries the task's change and nothing else (no .gitignore edit, no .aider* file), its
commits are authored by the identity the worker gives, and aider writes no placeholder identity
into any repository config; a 401 (aider exits 0 on it) is terminal after one attempt.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from clifixtures import daemon_once, install_dir, require_cli
from daemonfixtures import Site, site, spec
from gitfixtures import git, write_commit
from openai_stub import USAGE, OpenAIStub, TextTurn, Turn, unauthorized, whole_file_edit

from mtor_git.agent.profiles import BUILTIN
from mtor_git.doctor.probe import probe_agent

FAKE_KEY = "sk-stub-aider-0123456789abcdef"
AUTHOR = {"name": "Worker Bot", "email": "worker-bot@example.invalid"}
RESULT_FILES = {"results/t1.json", "results/t1.md"}


@pytest.fixture
def aider() -> Path:
    return require_cli("aider")


@pytest.fixture
def s(tmp_path: Path) -> Iterator[Site]:
    with site(tmp_path) as running:
        yield running


def run_aider_task(s: Site, aider: Path, turns: list[Turn]) -> tuple[OpenAIStub, dict[str, Any]]:
    """Push one task for the `aider` profile, run one daemon cycle, return the stub and result."""
    s.push_specs({"t1": spec("Create notes/aider.txt saying: written by aider\n",
                             agent="aider")})
    home = s.root / "home"  # aider keeps caches and its analytics switch under HOME
    home.mkdir()
    with OpenAIStub(turns) as stub:
        agent = {"extends": "aider", "sandbox_paths": [install_dir(aider)],
                 "env": {"AIDER_MODEL": "openai/gpt-stub", "OPENAI_API_BASE": stub.base_url}}
        config = s.config("w1", default_agent="aider",
                          extra={"agents": {"aider": agent}, "author": AUTHOR})
        daemon_once(config, s.root, {"OPENAI_API_KEY": FAKE_KEY, "HOME": str(home)},
                    bin_dir=aider.parent)
    return stub, s.result("t1")


def changed_paths(s: Site) -> set[str]:
    return set(git("diff", "--name-only", "main", "mtor/t1", cwd=s.remote).split())


def test_aider_edit_lands_on_the_branch_and_the_result_is_succeeded(s: Site,
                                                                    aider: Path) -> None:
    stub, result = run_aider_task(s, aider, [whole_file_edit("notes/aider.txt",
                                                             "written by aider\n")])
    assert result["status"] == "succeeded", result["failure"]
    assert git("show", "mtor/t1:notes/aider.txt", cwd=s.remote) == "written by aider"
    assert result["usage"]["input_tokens"] == USAGE["input"]
    assert result["usage"]["output_tokens"] == USAGE["output"]
    # AIDER_MODEL from the profile's env chose the model the provider was asked for.
    assert stub.model_requests[0].body["model"] == "gpt-stub"


def test_the_branch_carries_only_the_tasks_change(s: Site, aider: Path) -> None:
    run_aider_task(s, aider, [whole_file_edit("notes/aider.txt", "written by aider\n")])
    assert changed_paths(s) == {"notes/aider.txt"} | RESULT_FILES


def test_aider_commits_as_the_worker_given_identity(s: Site, aider: Path) -> None:
    run_aider_task(s, aider, [whole_file_edit("notes/aider.txt", "written by aider\n")])
    authors = git("log", "--format=%an <%ae>|%cn <%ce>", "main..mtor/t1",
                  cwd=s.remote).splitlines()
    worker = f"{AUTHOR['name']} <{AUTHOR['email']}>"
    assert authors and all(line.split("|")[0].startswith(AUTHOR["name"]) for line in authors)
    assert all(line.split("|")[1] == worker for line in authors), authors
    configs = [p for p in (s.root / "workers").rglob("config") if p.is_file()]
    assert not any("Your Name" in p.read_text(errors="replace") for p in configs)


def test_a_401_is_terminal_after_one_attempt_and_changes_nothing(s: Site, aider: Path) -> None:
    stub, result = run_aider_task(s, aider, [unauthorized()])
    assert result["status"] == "failed"
    assert result["failure"]["kind"] == "auth"
    assert len(result["attempts"]) == 1
    assert len(stub.model_requests) == 1
    assert changed_paths(s) == RESULT_FILES


def test_an_edit_aider_skipped_is_edit_blocked_not_succeeded(s: Site, aider: Path) -> None:
    write_commit(s.user, {".gitignore": b"private.txt\n"}, "ignore private.txt")
    _, result = run_aider_task(s, aider, [whole_file_edit("private.txt", "not written\n")])
    assert result["status"] == "failed", "a refused edit must never be `succeeded`"
    assert result["failure"]["kind"] == "edit_blocked"
    assert "Skipping edits to private.txt" in result["failure"]["evidence"]


def test_doctor_probe_answers_and_names_the_aider_settings(tmp_path: Path, aider: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    with OpenAIStub([TextTurn("OK")]) as stub:
        profile = replace(BUILTIN["aider"], env={"AIDER_MODEL": "openai/gpt-stub",
                                                 "OPENAI_API_BASE": stub.base_url})
        check = probe_agent(profile, {"PATH": f"{aider.parent}:/usr/bin:/bin",
                                      "HOME": str(home), "OPENAI_API_KEY": FAKE_KEY},
                            timeout=120, min_model_call=0.0)
    assert check.status == "pass", check
    assert "model openai/gpt-stub, --no-gitignore --yes-always" in check.detail
