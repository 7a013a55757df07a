"""The ready `codex` profile with the real Codex CLI, through the real daemon (`mtor-git daemon
--once` over `git daemon` on loopback) against a loopback mock of the OpenAI Responses API
(tests/openai_stub.py): its file lands on mtor/<id> with tokens recorded; a 401 is terminal after
one request; an edit its own sandbox refused is never `succeeded`.

The provider is configured the way the README tells a user: a `[model_providers.NAME]` table in
`$CODEX_HOME/config.toml` with Codex's own retries switched off.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from clifixtures import daemon_once, home_outside_tmp, install_dir, require_cli
from daemonfixtures import Site, site, spec
from gitfixtures import git
from openai_stub import (
    USAGE,
    OpenAIStub,
    TextTurn,
    Turn,
    patch_write,
    shell_write,
    unauthorized,
)

from mtor_git.agent.profiles import BUILTIN
from mtor_git.doctor.probe import probe_agent

FAKE_KEY = "sk-stub-codex-0123456789abcdef"


@pytest.fixture
def codex() -> Path:
    return require_cli("codex")


@pytest.fixture
def s(tmp_path: Path) -> Iterator[Site]:
    with site(tmp_path) as running:
        yield running


def codex_config(home: Path, base_url: str) -> None:
    """The user's Codex configuration: a provider of its own, its retries off (the built-in
    `openai` provider's cannot be changed)."""
    (home / "config.toml").write_text(
        'model_provider = "mtor-stub"\nmodel = "gpt-stub"\n\n'
        '[model_providers.mtor-stub]\nname = "stub"\n'
        f'base_url = "{base_url}"\nenv_key = "OPENAI_API_KEY"\nwire_api = "responses"\n'
        "request_max_retries = 0\nstream_max_retries = 0\n")


def run_codex_task(s: Site, codex: Path, turns: list[Turn], *,
                   agent: dict[str, Any] | None = None) -> tuple[OpenAIStub, dict[str, Any]]:
    """Push one task for the `codex` profile, run one daemon cycle, return the stub and result."""
    s.push_specs({"t1": spec("Write the file the task names.\n", agent="codex")})
    profile = {**(agent or {"extends": "codex"}), "sandbox_paths": [install_dir(codex)]}
    config = s.config("w1", default_agent="codex", extra={"agents": {"codex": profile}})
    with home_outside_tmp("codex-") as home, OpenAIStub(turns) as stub:
        codex_config(home, stub.base_url)
        daemon_once(config, s.root, {"CODEX_HOME": str(home), "OPENAI_API_KEY": FAKE_KEY},
                    bin_dir=codex.parent)
    return stub, s.result("t1")


def test_codex_writes_its_checkout_and_the_result_is_succeeded(s: Site, codex: Path) -> None:
    stub, result = run_codex_task(s, codex, patch_write("notes/codex.txt", "written by codex\n"))
    assert result["status"] == "succeeded", result["failure"]
    assert git("show", "mtor/t1:notes/codex.txt", cwd=s.remote) == "written by codex"
    assert result["usage"]["input_tokens"] == 2 * USAGE["input"]
    assert result["usage"]["output_tokens"] == 2 * USAGE["output"]
    assert result["model_invoked"] is True
    assert len(stub.model_requests) == 2  # the patch, then the closing answer


def test_codex_shell_write_lands_on_the_branch(s: Site, codex: Path) -> None:
    _, result = run_codex_task(s, codex, shell_write("out.txt", "from the shell\n"))
    assert result["status"] == "succeeded", result["failure"]
    assert git("show", "mtor/t1:out.txt", cwd=s.remote) == "from the shell"


def test_a_401_is_terminal_after_one_attempt_and_one_request(s: Site, codex: Path) -> None:
    stub, result = run_codex_task(s, codex, [unauthorized()])
    assert result["status"] == "failed"
    assert result["failure"]["kind"] == "auth"
    assert len(result["attempts"]) == 1
    assert len(stub.model_requests) == 1, "Codex's own retries must be off"
    assert FAKE_KEY not in git("log", "-p", "--all", cwd=s.remote)


READ_ONLY = {"command": ["codex", "exec", "--json", "--skip-git-repo-check", "--sandbox",
                         "read-only", "--ephemeral", "-"], "extends": "codex"}


@pytest.mark.parametrize(("turns", "quoted"), [
    (patch_write("notes/codex.txt", "blocked\n"), "patch rejected"),
    (shell_write("notes.txt", "blocked\n"), "read_only_file_system"),
], ids=["apply_patch", "shell"])
def test_a_write_refused_by_the_read_only_sandbox_is_edit_blocked(
        s: Site, codex: Path, turns: list[Turn], quoted: str) -> None:
    _, result = run_codex_task(s, codex, turns, agent=READ_ONLY)
    assert result["status"] == "failed", "a refused edit must never be `succeeded`"
    assert result["failure"]["kind"] == "edit_blocked"
    assert quoted in result["failure"]["evidence"]
    assert len(result["attempts"]) == 1
    tree = git("ls-tree", "-r", "--name-only", "mtor/t1", cwd=s.remote).split()
    assert "notes/codex.txt" not in tree and "notes.txt" not in tree


def test_doctor_probe_answers_and_names_the_codex_settings(codex: Path) -> None:
    environ = {"PATH": f"{codex.parent}:/usr/bin:/bin", "OPENAI_API_KEY": FAKE_KEY}
    with home_outside_tmp("codex-") as home, OpenAIStub([TextTurn("OK")]) as stub:
        codex_config(home, stub.base_url)
        check = probe_agent(BUILTIN["codex"], {**environ, "HOME": str(home),
                                               "CODEX_HOME": str(home)},
                            timeout=60, min_model_call=0.0)
    assert check.status == "pass", check
    assert "sandbox workspace-write" in check.detail
    assert "provider mtor-stub (request_max_retries 0, stream_max_retries 0)" in check.detail
