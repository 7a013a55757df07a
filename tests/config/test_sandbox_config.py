"""`sandbox:`, `sandbox_paths:` and `network:` in the configuration, and what the setting resolves
to on a host with and without bubblewrap."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from mtor_git.agent.sandbox import SandboxPath, find_bwrap
from mtor_git.config.load import Config, parse_config
from mtor_git.config.sandbox import resolve_sandbox
from mtor_git.errors import ConfigError
from mtor_git.states import TaskStatus
from mtor_git.task.result import Result, TaskInfo, WorkerInfo, load_schema

ENV = {"HOME": "/home/w", "PATH": "/usr/bin:/bin", "CODEX_HOME": "/home/w/.codex"}


def config(tmp_path: Path, extra: str = "", agent: str = "") -> Config:
    text = (f"workspace: {tmp_path}/ws\nstate_dir: {tmp_path}/state\n"
            f"runtime_dir: {tmp_path}/run\nrepos: [{{url: /srv/git/p.git}}]\n"
            f"agents: {{fake: {{command: [/bin/true]{agent}}}}}\n{extra}")
    path = tmp_path / "etc" / "mtor-git" / "config.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return parse_config(text, source=str(path), environ=ENV)


def error_of(text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_config("repos: [{url: /srv/git/p.git}]\nagents: {claude: {}}\n" + text,
                     source="w.yaml", environ=ENV)
    return str(caught.value)


def test_sandbox_is_bwrap_or_none_and_unset_by_default(tmp_path: Path) -> None:
    assert config(tmp_path).sandbox is None
    assert config(tmp_path, "sandbox: none\n").sandbox == "none"
    assert config(tmp_path, "sandbox: bwrap\n").sandbox == "bwrap"
    assert error_of("sandbox: firejail\n").startswith("w.yaml:3: sandbox:")


def test_sandbox_paths_are_expanded_read_only_unless_rw(tmp_path: Path) -> None:
    profile = config(tmp_path, agent=", sandbox_paths: [~/.claude, {path: '${CODEX_HOME}', "
                     "mode: rw}], network: none").agents["fake"]
    assert profile.sandbox_paths == (SandboxPath(Path("/home/w/.claude")),
                                     SandboxPath(Path("/home/w/.codex"), writable=True))
    assert profile.network == "none"


@pytest.mark.parametrize(("agent", "field"), [
    ("{sandbox_paths: [{path: /x, mode: rwx}]}", "agents.claude.sandbox_paths.0.mode"),
    ("{sandbox_paths: [{mode: rw}]}", "agents.claude.sandbox_paths.0"),
    ("{sandbox_paths: /x}", "agents.claude.sandbox_paths"),
    ("{network: off}", "agents.claude.network"),
])
def test_a_bad_sandbox_field_is_named(agent: str, field: str) -> None:
    text = f"repos: [{{url: /srv/git/p.git}}]\nagents: {{claude: {agent}}}\n"
    with pytest.raises(ConfigError) as caught:
        parse_config(text, source="w.yaml", environ=ENV)
    assert f": {field}:" in str(caught.value)


def test_none_is_explicit_and_says_so(tmp_path: Path) -> None:
    resolved = resolve_sandbox(config(tmp_path, "sandbox: none\n"), ENV)
    assert resolved.sandbox.mode == "none" and resolved.explicit


def test_configured_bwrap_missing_refuses_to_start(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        resolve_sandbox(config(tmp_path, "sandbox: bwrap\n"), {**ENV, "PATH": str(tmp_path)})
    assert "sandbox" in str(caught.value) and "\n" not in str(caught.value)


def test_default_without_bwrap_is_the_documented_none_never_silent(tmp_path: Path) -> None:
    resolved = resolve_sandbox(config(tmp_path), {**ENV, "PATH": str(tmp_path)})
    assert resolved.sandbox.mode == "none" and not resolved.explicit
    assert resolved.reason.startswith("NO SANDBOX")


@pytest.mark.skipif(find_bwrap() is None, reason="bubblewrap is not installed")
def test_default_with_bwrap_hides_the_worker_places(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    sandbox = resolve_sandbox(cfg, ENV).sandbox
    assert sandbox.mode == "bwrap"
    assert cfg.path is not None
    for place in (cfg.workspace, cfg.state_dir, cfg.runtime_dir, cfg.path, cfg.path.parent):
        assert Path(os.path.realpath(place)) in sandbox.hide


@pytest.mark.skipif(find_bwrap() is None, reason="bubblewrap is not installed")
def test_an_agent_program_hidden_inside_refuses_to_start(tmp_path: Path) -> None:
    hidden = tmp_path / "state" / "agent"
    hidden.parent.mkdir(parents=True)
    hidden.write_text("#!/bin/sh\n")
    hidden.chmod(0o755)
    text = (f"workspace: {tmp_path}/ws\nstate_dir: {tmp_path}/state\n"
            f"repos: [{{url: /srv/git/p.git}}]\nagents: {{fake: {{command: [{hidden}]}}}}\n")
    with pytest.raises(ConfigError) as caught:
        resolve_sandbox(parse_config(text, environ=ENV), ENV)
    assert "sandbox_paths" in str(caught.value)


def test_every_result_records_its_sandbox() -> None:
    result = Result(status=TaskStatus.SUCCEEDED,
                    task=TaskInfo("t", "tasks/t.md", None, None, "fake"),
                    worker=WorkerInfo("w", "h", "0", 1), branch="mtor/t", started_at=0.0,
                    finished_at=1.0, model_invoked=True, sandbox="bwrap")
    data = json.loads(result.dumps())
    assert data["sandbox"] == "bwrap"
    assert Result.from_json(data).sandbox == "bwrap"
    schema = load_schema()
    assert "sandbox" in schema["required"]
    assert schema["properties"]["sandbox"]["enum"] == ["bwrap", "none"]
