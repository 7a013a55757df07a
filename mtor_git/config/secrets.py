"""Which values the worker holds as secrets, beyond each profile's own: the `token_env` variables
and `${VAR}`s of repository URLs, a password written in a URL, and every value of `env_file`.
Each profile carries them, so every run guards them (agent/redact.py `secrets_from`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from mtor_git.agent.profiles import AgentProfile
from mtor_git.config.envfile import parse_env_file
from mtor_git.config.expand import referenced_vars


class UnreadableEnvFile(ValueError):
    """`env_file` names a file the worker cannot read."""


def with_worker_secrets(agents: Mapping[str, AgentProfile], raw_repos: Any,
                        repos: Sequence[Any], env_file: Path | None) -> dict[str, AgentProfile]:
    """`agents` with the worker's secret names added to `secret_env` and its secret values
    (held in no variable of the profile) to `secret_values`. `raw_repos` is the config's
    `repos:` list as written (for the `${VAR}` names), `repos` the same list loaded."""
    names: list[str] = []
    values: dict[str, str] = {}
    for index, item in enumerate(raw_repos if isinstance(raw_repos, list) else ()):
        if not isinstance(item, dict):
            continue
        if isinstance(item.get("token_env"), str):
            names.append(item["token_env"])
        if isinstance(item.get("url"), str):
            names.extend(referenced_vars(item["url"]))
        url = str(repos[index].url)
        password = urlsplit(url).password if "://" in url else None
        if password:
            values[f"repos[{index}].url password"] = unquote(password)
    if env_file is not None:
        values.update(env_file_values(env_file))
    if not names and not values:
        return dict(agents)
    return {name: replace(p, secret_env=tuple(dict.fromkeys((*p.secret_env, *names))),
                          secret_values={**values, **p.secret_values})
            for name, p in agents.items()}


def env_file_values(path: Path) -> dict[str, str]:
    """Every value systemd would load from `path`; UnreadableEnvFile when it cannot be read."""
    parsed = parse_env_file(path)
    if not parsed.readable:
        raise UnreadableEnvFile(
            f"{parsed.problems[0].message}: the worker reads it to know which values are "
            "secrets (make it readable by the service user, e.g. root:mtor-git 0640, or "
            "remove env_file)")
    return dict(parsed.values)
