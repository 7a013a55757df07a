"""Which values the worker holds as secrets, beyond each profile's own: the `token_env` variables
and `${VAR}`s of repository URLs, a password written in a URL, and every value of `env_file`.
Each profile carries them, so every run guards them (agent/redact.py `secrets_from`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from mtor_git.agent.profiles import BASE_PASS_ENV, AgentProfile
from mtor_git.config.envfile import parse_env_file
from mtor_git.config.expand import referenced_vars
from mtor_git.config.model import RepoConfig


class UnreadableEnvFile(ValueError):
    """`env_file` names a file the worker cannot read."""


def with_worker_secrets(agents: Mapping[str, AgentProfile], raw_repos: Any,
                        repos: Sequence[RepoConfig], env_file: Path | None
                        ) -> dict[str, AgentProfile]:
    """`agents` with the worker's secret names added to `secret_env` and its secret values
    (held in no variable of the profile) to `secret_values`. `raw_repos` is the config's
    `repos:` list as written (for the `${VAR}` names), `repos` the same list loaded."""
    names: list[str] = []
    values: dict[str, str] = {}
    for index, repo in enumerate(repos):
        item = raw_repos[index] if isinstance(raw_repos, list) else {}
        if isinstance(item, dict) and isinstance(item.get("url"), str):
            names.extend(referenced_vars(item["url"]))
        if repo.token:
            token_env = item.get("token_env") if isinstance(item, dict) else None
            values[str(token_env or f"repos[{index}] token")] = repo.token
        password = _password(repo.url)
        if password:
            values[f"repos[{index}].url password"] = password
    if env_file is not None:
        values.update(env_file_values(env_file))
    if not names and not values:
        return dict(agents)
    return {name: replace(p, secret_env=tuple(dict.fromkeys((*p.secret_env, *names))),
                          secret_values={**values, **p.secret_values})
            for name, p in agents.items()}


def _password(url: str) -> str | None:
    """The password of a URL; for http(s), a user name given without one is a token too
    (https://ghp_TOKEN@github.com/..., GitHub's form), and so is an access token in the query."""
    try:
        parts = urlsplit(url) if "://" in url else None
    except ValueError:
        return None
    if parts is None:
        return None
    secret = parts.password
    if secret is None and parts.scheme in ("http", "https") and parts.username:
        secret = parts.username
    if secret is None and parts.query:
        secret = parts.query.split("=", 1)[-1] or None
    return unquote(secret) if secret else None


def env_file_values(path: Path) -> dict[str, str]:
    """Every value systemd would load from `path`, but the standard environment every agent gets
    (PATH, LANG, TZ, proxies …: `LANG=C.UTF-8` is no secret, and a proxy's password is caught
    as a URL password); UnreadableEnvFile when the file cannot be read."""
    parsed = parse_env_file(path)
    if not parsed.readable:
        raise UnreadableEnvFile(
            f"{parsed.problems[0].message}: the worker reads it to know which values are "
            "secrets (make it readable by the service user, e.g. root:mtor-git 0640, or "
            "remove env_file)")
    values: dict[str, str] = {}
    for name, value in parsed.values.items():
        if name not in BASE_PASS_ENV:
            values[name] = value
        elif password := _password(value):
            values[f"{name} password"] = password
    return values
