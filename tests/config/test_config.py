"""Worker configuration: every error is `file:line: field: message` (exit 78 at start-up), `~` and
${VAR} are expanded once at load, every default path comes from platformdirs."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mtor_git import paths
from mtor_git.config.load import load_config, parse_config
from mtor_git.errors import ConfigError

ENV = {"HOME": "/home/w", "GLM_TOKEN": "glm-secret-token", "PATH": "/usr/bin"}
MINIMAL = "repos: [{url: /srv/git/p.git}]\nagents: {claude: {}}\n"


def error_of(text: str, env: dict[str, str] = ENV) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, source="w.yaml", environ=env)
    return str(caught.value)


def test_the_example_config_loads() -> None:
    example = Path(__file__).resolve().parents[2] / "daemon" / "config.example.yaml"
    config = load_config(example, environ={**ENV, "ANTHROPIC_API_KEY": "k"})
    assert config.agents["glm"].env["ANTHROPIC_AUTH_TOKEN"] == "glm-secret-token"
    assert config.workspace == Path("/home/w/.cache/mtor-git/workspace")


def test_defaults_come_from_platformdirs() -> None:
    config = parse_config(MINIMAL, environ=ENV)
    assert config.workspace == paths.workspace_dir()
    assert config.state_dir == paths.state_dir()
    assert config.default_agent == "claude"


def test_an_unknown_key_names_its_line_and_the_closest_key() -> None:
    message = error_of(MINIMAL + "pol_interval: 5s\n")
    assert message == "w.yaml:3: pol_interval: unknown key; did you mean 'poll_interval'?"


def test_a_nested_wrong_type_names_the_full_field() -> None:
    message = error_of("repos: [{url: /x}]\nagents:\n  claude:\n    max_parallel: many\n")
    assert message.startswith("w.yaml:4: agents.claude.max_parallel: expected a whole number")


def test_an_unset_variable_is_named_with_its_line() -> None:
    text = MINIMAL.replace("{claude: {}}", "{claude: {env: {ANTHROPIC_AUTH_TOKEN: '${NOPE}'}}}")
    message = error_of(text)
    assert message.startswith("w.yaml:2: agents.claude.env.ANTHROPIC_AUTH_TOKEN: ${NOPE} is "
                              "not set")


def test_paths_are_expanded_once_and_made_absolute(tmp_path: Path) -> None:
    path = tmp_path / "w.yaml"
    path.write_text(MINIMAL + "workspace: ~/ws\nstate_dir: ${HOME}/state\n"
                    "runtime_dir: run\n")
    config = load_config(path, environ=ENV)
    assert config.workspace == Path("/home/w/ws")
    assert config.state_dir == Path("/home/w/state")
    assert config.runtime_dir == tmp_path / "run"  # relative to the config file


def test_a_value_holding_dollar_text_is_not_expanded_twice() -> None:
    env = {**ENV, "TOKEN": "a${GLM_TOKEN}b"}
    text = MINIMAL.replace("{claude: {}}", "{claude: {env: {X_TOKEN: '${TOKEN}'}}}")
    config = parse_config(text, environ=env)
    assert config.agents["claude"].env["X_TOKEN"] == "a${GLM_TOKEN}b"
    assert "X_TOKEN" in config.agents["claude"].secret_env


def test_a_shell_string_command_is_refused() -> None:
    text = "repos: [{url: /x}]\nagents:\n  mine: {command: 'claude -p'}\n"
    assert "never a shell string" in error_of(text)


def test_a_file_prompt_needs_the_placeholder() -> None:
    text = "repos: [{url: /x}]\nagents:\n  mine: {command: [tool], prompt: file}\n"
    assert "{prompt_file}" in error_of(text)


def test_a_fallback_must_be_configured() -> None:
    text = "repos: [{url: /x}]\nagents:\n  claude: {fallback: glm}\n"
    assert error_of(text).startswith("w.yaml:3: agents.claude.fallback: 'glm' is not a "
                                     "configured agent")


def test_require_signed_needs_allowed_signers() -> None:
    assert "allowed_signers" in error_of(MINIMAL + "require_signed: true\n")


def test_a_missing_file_says_where_it_looked(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no configuration file"):
        load_config(tmp_path / "absent.yaml", environ=ENV)


def test_extends_starts_from_a_ready_profile() -> None:
    text = "repos: [{url: /x}]\nagents:\n  glm: {extends: claude, max_attempts: 2}\n"
    glm = parse_config(text, environ=ENV).agents["glm"]
    assert glm.command[0] == "claude" and glm.report == "claude-stream-json"
    assert glm.max_attempts == 2


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_any_text_is_a_config_or_a_config_error(text: str) -> None:
    try:
        parse_config(text, source="w.yaml", environ=ENV)
    except ConfigError as exc:
        assert str(exc).startswith("w.yaml:")


def test_repository_credentials_come_from_a_key_file_and_the_environment(tmp_path: Path) -> None:
    from pygit2.enums import CredentialType

    from mtor_git.git.transfer import Credentials as Creds
    from mtor_git.git.transfer import pick_credential, register_credentials, registered_credentials

    key = tmp_path / "deploy_key"
    key.write_text("not really a key\n")
    text = (f"repos:\n  - url: git@example.org:me/p.git\n    ssh_key: {key}\n"
            "  - url: https://example.org/me/q.git\n    username: bot\n"
            "    token_env: GLM_TOKEN\nagents: {claude: {}}\n")
    ssh, https = parse_config(text, environ=ENV).repos
    assert ssh.ssh_key == key and https.token == "glm-secret-token"
    assert "glm-secret-token" not in repr(https)
    register_credentials(ssh.url, Creds(ssh_key=ssh.ssh_key))
    offered = pick_credential(registered_credentials(ssh.url), ssh.url, "git",
                              CredentialType.SSH_KEY)
    assert str(key) in offered.credential_tuple


def test_a_token_variable_that_is_unset_is_a_config_error() -> None:
    text = "repos:\n  - url: https://x/y.git\n    token_env: NOT_SET\nagents: {claude: {}}\n"
    assert error_of(text) == ("w.yaml:3: repos.0.token_env: NOT_SET is not set in the daemon's "
                              "environment")
