"""Which values are secrets: every value the worker holds as one (`${VAR}` expansions,
`requires_env`, `secret_env`, `token_env`, a password in a repository URL, every value of
`env_file`, names that look like credentials), never a value written literally in `env`."""

from __future__ import annotations

from pathlib import Path

import pytest

from mtor_git.agent.redact import Redactor, secrets_from
from mtor_git.config.envfile import lint_env_file
from mtor_git.config.load import parse_config
from mtor_git.errors import ConfigError

ENV = {"HOME": "/home/w", "PATH": "/usr/bin", "GLM_TOKEN": "glm-secret-token",
       "DEPLOY_PAT": "pat-0123456789abcdef", "UPSTREAM": "upstream-value-xyz",
       "ODD_NAME": "odd-value-123456", "HOSTNAME_X": "build-host-01"}


def secrets_of(text: str, profile: str = "a", env: dict[str, str] = ENV) -> dict[str, str]:
    config = parse_config(text, source="w.yaml", environ=env)
    return secrets_from(config.agents[profile], env)


def agent(body: str, repos: str = "[{url: /srv/p.git}]", top: str = "") -> str:
    return f"repos: {repos}\n{top}agents:\n  a: {{command: [x], {body}}}\n"


def test_a_literal_profile_env_value_is_configuration_not_a_secret() -> None:
    found = secrets_of(agent("env: {AIDER_MODEL: gpt-4o-mini, OPENAI_API_BASE: http://h:1/v1}"))
    assert "AIDER_MODEL" not in found and "OPENAI_API_BASE" not in found
    config = parse_config(agent("env: {AIDER_MODEL: gpt-4o-mini}"), environ=ENV)
    red = Redactor(secrets_from(config.agents["a"], ENV))
    line = "Main model: gpt-4o-mini with diff edit format"
    assert red.text(line) == line


def test_an_expanded_value_and_each_variable_it_came_from_are_secrets() -> None:
    found = secrets_of(agent("env: {AUTH_HEADER: 'Bearer ${GLM_TOKEN}', X: '${UPSTREAM}'}"))
    assert found["AUTH_HEADER"] == "Bearer glm-secret-token"
    assert found["GLM_TOKEN"] == "glm-secret-token"
    assert found["X"] == "upstream-value-xyz"


def test_a_variable_in_the_command_line_is_a_secret() -> None:
    found = secrets_of("repos: [{url: /srv/p.git}]\n"
                       "agents: {a: {command: [x, --key, '${ODD_NAME}']}}\n")
    assert found["ODD_NAME"] == "odd-value-123456"


def test_secret_env_names_values_that_are_secret_but_not_required() -> None:
    found = secrets_of(agent("pass_env: [ODD_NAME], secret_env: [ODD_NAME]"))
    assert found["ODD_NAME"] == "odd-value-123456"
    assert "ODD_NAME" not in secrets_of(agent("pass_env: [ODD_NAME]"))


def test_secret_env_names_must_be_variable_names() -> None:
    with pytest.raises(ConfigError, match=r"w.yaml:3: agents.a.secret_env.0: 'no good'"):
        parse_config(agent("secret_env: ['no good']"), source="w.yaml", environ=ENV)


def test_every_profile_guards_the_token_env_of_every_repository() -> None:
    repos = "[{url: 'https://git.example/p.git', token_env: DEPLOY_PAT}]"
    text = (f"repos: {repos}\nagents:\n  a: {{command: [x]}}\n  b: {{command: [y]}}\n")
    assert secrets_of(text, "a")["DEPLOY_PAT"] == "pat-0123456789abcdef"
    assert secrets_of(text, "b")["DEPLOY_PAT"] == "pat-0123456789abcdef"


def test_credentials_in_a_repository_url_are_secrets() -> None:
    repos = ("[{url: 'https://bot:p%40ss-w0rd-42@git.example/p.git'},"
             " {url: 'https://bot:${UPSTREAM}@git.example/q.git'}]")
    found = secrets_of(agent("prompt: stdin", repos=repos))
    assert "p@ss-w0rd-42" in found.values()
    assert found["UPSTREAM"] == "upstream-value-xyz"


def test_every_value_of_the_env_file_is_a_secret(tmp_path: Path) -> None:
    env_file = tmp_path / "mtor-git.env"
    env_file.write_text("DEPLOY_PAT=pat-from-the-file-1234\nMODEL_NAME=plain-but-in-env-file\n"
                        "LANG=C.UTF-8\nPATH=/usr/local/bin:/usr/bin\n"
                        "HTTPS_PROXY=http://bob:proxy-pw-99@proxy:3128\n")
    env_file.chmod(0o600)
    found = secrets_of(agent("prompt: stdin", top=f"env_file: {env_file}\n"))
    assert found["DEPLOY_PAT"] == "pat-from-the-file-1234"
    assert found["MODEL_NAME"] == "plain-but-in-env-file"
    # The standard environment every agent gets is no secret, but a proxy's password is.
    assert not {"LANG", "PATH", "HTTPS_PROXY"} & set(found)
    assert found["HTTPS_PROXY password"] == "proxy-pw-99"


def test_an_unreadable_env_file_refuses_the_config(tmp_path: Path) -> None:
    missing = tmp_path / "absent.env"
    with pytest.raises(ConfigError, match=r"^w.yaml:2: env_file: cannot read: .*secrets"):
        parse_config(agent("prompt: stdin", top=f"env_file: {missing}\n"), source="w.yaml",
                     environ=ENV)


def test_names_that_look_like_credentials_are_secrets_whatever_the_profile() -> None:
    env = {**ENV, "SERVICE_PASSWORD": "hunter2-long", "GH_PAT": "ghp_zzzzzzzz",
           "SIGNING_KEY": "key-material-1", "KEYBOARD_LAYOUT": "dvorak-programmer",
           "PWD": "/home/w/project", "OLDPWD": "/home/w/elsewhere"}
    found = secrets_of(agent("prompt: stdin"), env=env)
    assert {"SERVICE_PASSWORD", "GH_PAT", "SIGNING_KEY", "GLM_TOKEN"} <= set(found)
    assert not {"KEYBOARD_LAYOUT", "HOSTNAME_X", "PWD", "OLDPWD", "PATH", "HOME"} & set(found)


def test_an_env_file_the_service_group_may_read_is_not_a_permission_problem(
        tmp_path: Path) -> None:
    env_file = tmp_path / "mtor-git.env"
    env_file.write_text("DEPLOY_PAT=pat-from-the-file-1234\n")
    env_file.chmod(0o640)
    assert lint_env_file(env_file) == []
    env_file.chmod(0o660)
    assert [p.severity for p in lint_env_file(env_file)] == ["warning"]


def test_the_password_of_a_url_in_any_variable_is_a_secret() -> None:
    env = {**ENV, "HTTPS_PROXY": "http://bob:pr0xy-p%40ss@proxy.example:3128",
           "NO_PROXY": "localhost,127.0.0.1", "ODD": "http://[bad-url@x"}
    found = secrets_of(agent("env: {BASE: 'https://u:lit3ral-pw@api.example/v1'}"), env=env)
    assert found["HTTPS_PROXY password"] == "pr0xy-p@ss"
    assert found["BASE password"] == "lit3ral-pw"
    assert "BASE" not in found and "NO_PROXY" not in found and "ODD password" not in found
