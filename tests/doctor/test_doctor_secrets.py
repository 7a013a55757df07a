"""`doctor`'s secrets check names the variables every run guards, and warns when an agent gets a
value of the env file that no rule marks secret (a `RELEASE_HANDLE` passed through while the
config names no `env_file`), with the fix."""

from __future__ import annotations

import json
from pathlib import Path

from mtor_git.config.load import parse_config
from mtor_git.doctor.run import daemon_environment
from mtor_git.doctor.secrets import check_secrets

SHELL = {"HOME": "/home/w", "USER": "w"}


def setup(tmp_path: Path, *, env_file_in_config: bool) -> tuple[str, Path]:
    env_file = tmp_path / "mtor-git.env"
    env_file.write_text("RELEASE_HANDLE=pat-0123456789abcdef\nANTHROPIC_API_KEY=sk-ant-xyz123\n")
    env_file.chmod(0o600)
    data = {"repos": [{"url": "/srv/p.git"}],
            "agents": {"deploy": {"command": ["x"], "pass_env": ["RELEASE_HANDLE"],
                                  "env": {"AIDER_MODEL": "gpt-4o"}},
                       "claude": {"requires_env": ["ANTHROPIC_API_KEY"]}}}
    if env_file_in_config:
        data["env_file"] = str(env_file)
    return json.dumps(data), env_file


def test_a_passed_env_file_value_no_rule_guards_is_a_warning_with_the_fix(tmp_path: Path) -> None:
    text, env_file = setup(tmp_path, env_file_in_config=False)
    env = daemon_environment(env_file, SHELL)
    check = check_secrets(parse_config(text, environ=env.values), env)
    assert check.status == "warn"
    assert "RELEASE_HANDLE (agent deploy)" in check.detail
    assert "ANTHROPIC_API_KEY" in check.detail.split(". From")[0]  # guarded by its name
    assert f"env_file: {env_file}" in check.hint


def test_with_env_file_in_the_config_every_value_of_it_is_guarded(tmp_path: Path) -> None:
    text, env_file = setup(tmp_path, env_file_in_config=True)
    env = daemon_environment(env_file, SHELL)
    check = check_secrets(parse_config(text, environ=env.values), env)
    assert check.status == "pass"
    assert "RELEASE_HANDLE" in check.detail and "AIDER_MODEL" not in check.detail
