"""doctor names each CLI's settings: Codex's sandbox, home and own retries (read from the profile,
`-c` overrides and $CODEX_HOME/config.toml), aider's flags, and the identity agents commit as."""

from __future__ import annotations

import os
import tempfile
from dataclasses import replace
from pathlib import Path

from mtor_git.agent.profiles import BUILTIN
from mtor_git.doctor.clis import check_cli_settings, check_identity, settings_text

PROVIDER = ('model_provider = "mine"\n[model_providers.mine]\nbase_url = "http://127.0.0.1:9/v1"'
            '\nenv_key = "OPENAI_API_KEY"\nwire_api = "responses"\n')


def codex_home(root: Path, extra: str = "") -> Path:
    home = root / "codex-home"
    home.mkdir(parents=True)
    (home / "config.toml").write_text(PROVIDER + extra)
    return home


def checks(home: Path, command: tuple[str, ...] | None = None) -> dict[str, tuple[str, str]]:
    profile = BUILTIN["codex"] if command is None else replace(BUILTIN["codex"], command=command)
    return {c.name: (c.status, c.detail) for c in check_cli_settings(
        profile, {"PATH": "/usr/bin", "CODEX_HOME": str(home)})}


def test_ready_codex_profile_with_retries_off_passes(tmp_path: Path) -> None:
    (tmp_path / "h").mkdir()
    home = codex_home(tmp_path / "h", "request_max_retries = 0\nstream_max_retries = 0\n")
    found = checks(home)
    assert found["codex sandbox codex"][0] == "pass"
    assert found["codex retries codex"][0] == "pass"
    assert "provider mine" in found["codex retries codex"][1]


def test_provider_retries_left_on_are_named(tmp_path: Path) -> None:
    status, detail = checks(codex_home(tmp_path))["codex retries codex"]
    assert status == "warn"
    assert "request_max_retries = None" in detail and "stream_max_retries = None" in detail


def test_command_line_overrides_count(tmp_path: Path) -> None:
    command = ("codex", "exec", "--json", "--sandbox", "workspace-write",
               "-c", "model_providers.mine.request_max_retries=0",
               "-c", "model_providers.mine.stream_max_retries=0", "-")
    assert checks(codex_home(tmp_path), command)["codex retries codex"][0] == "pass"


def test_built_in_provider_is_said_to_be_unchangeable(tmp_path: Path) -> None:
    home = tmp_path / "codex-home"
    home.mkdir()
    (home / "config.toml").write_text('model = "gpt-5"\n')
    status, detail = checks(home)["codex retries codex"]
    assert status == "warn" and "provider openai (a built-in provider" in detail


def test_default_read_only_sandbox_fails(tmp_path: Path) -> None:
    command = ("codex", "exec", "--json", "--skip-git-repo-check", "-")
    status, detail = checks(codex_home(tmp_path), command)["codex sandbox codex"]
    assert status == "fail" and "read-only (default)" in detail


def test_codex_home_under_the_temp_dir_fails() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        status, detail = checks(codex_home(Path(tmp)))["codex home codex"]
    assert status == "fail" and "temporary directory" in detail


def test_unreadable_codex_config_is_a_warning_not_a_crash(tmp_path: Path) -> None:
    home = tmp_path / "empty"
    home.mkdir()
    status, detail = checks(home)["codex retries codex"]
    assert status == "warn" and "config.toml" in detail


def test_ready_aider_profile_with_a_model_passes_and_a_bare_one_is_named() -> None:
    environ = {"PATH": "/usr/bin"}
    aider = replace(BUILTIN["aider"], env={"AIDER_MODEL": "gpt-4o"})
    ((_, status, _),) = [(c.name, c.status, c.detail) for c in check_cli_settings(aider, environ)]
    assert status == "pass"
    bare = replace(BUILTIN["aider"], command=("aider", "--message-file", "{prompt_file}"))
    (check,) = check_cli_settings(bare, environ)
    assert check.status == "warn"
    assert "--no-gitignore" in check.detail and "--yes-always" in check.detail
    assert "a model" in check.detail
    assert "model gpt-4o" in settings_text(aider, environ)


def test_identity_check_asks_git_and_names_the_author(tmp_path: Path) -> None:
    environ = {"PATH": os.environ["PATH"], "HOME": str(tmp_path)}
    check = check_identity("Worker Bot", "bot@example.invalid", environ)
    assert check.status == "pass" and "Worker Bot <bot@example.invalid>" in check.detail


def test_identity_check_fails_when_git_ignores_the_environment(tmp_path: Path) -> None:
    # A `git` that answers as an old one would: with whatever its config says, here nothing.
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "git").write_text("#!/bin/sh\nexit 1\n")
    (fake / "git").chmod(0o755)
    check = check_identity("Worker Bot", "bot@example.invalid",
                           {"PATH": str(fake), "HOME": str(tmp_path)})
    assert check.status == "fail" and "GIT_CONFIG_COUNT" in check.detail


def test_claude_has_no_cli_settings_check() -> None:
    assert list(check_cli_settings(BUILTIN["claude"], {"PATH": "/usr/bin"})) == []


def test_unset_codex_home_is_named() -> None:
    found = {c.name: c for c in check_cli_settings(
        BUILTIN["codex"], {"PATH": "/usr/bin", "HOME": "/nonexistent-home"})}
    assert found["codex home codex"].status == "warn"
    assert "CODEX_HOME is not set" in found["codex home codex"].detail
