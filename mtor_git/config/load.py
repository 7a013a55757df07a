"""The worker's configuration: load YAML, expand `~` and `${VAR}` once, validate every key with
its line, fill every default path from platformdirs. Errors are ConfigError (exit 78). The values
are in `config/model.py`, agent profiles are composed in `config/agents.py`."""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from mtor_git import paths
from mtor_git.agent.sandbox import SANDBOX_MODES
from mtor_git.agent.spawn import build_env, find_binary
from mtor_git.config.agents import parse_agents, verify_keys
from mtor_git.config.model import FORGES, PullRequestConfig
from mtor_git.config.model import Config as Config
from mtor_git.config.model import LogConfig as LogConfig
from mtor_git.config.model import RepoConfig as RepoConfig
from mtor_git.config.reader import NAME, Reader
from mtor_git.config.secrets import UnreadableEnvFile, with_worker_secrets
from mtor_git.errors import ConfigError
from mtor_git.logs import parse_size
from mtor_git.retry.policy import RetryPolicy
from mtor_git.spec.yamlload import KeyPath, YamlProblem, load

TOP_KEYS = ("worker_id", "workspace", "state_dir", "runtime_dir", "poll_interval",
            "max_parallel", "claim_lease", "default_timeout", "max_timeout", "shutdown_grace",
            "repos", "default_agent", "agents", "retry", "log", "pull_request", "unknown_agents",
            "require_signed", "allowed_signers", "author", "max_spec_bytes", "sandbox",
            "max_file_bytes", "max_change_bytes", "env_file", "transfer_timeout", "schedule",
            "max_turns")
REPO_KEYS = ("url", "branch", "tasks_dir", "name", "ssh_key", "username", "token_env",
             "verify", "fix_rounds")
RETRY_KEYS = ("max_attempts", "initial_backoff", "max_backoff", "min_model_call", "min_spacing",
              "breaker_threshold", "breaker_cooldown")
LOG_KEYS = ("file", "rotation", "retention", "json_file", "level")


def load_config(path: Path | None = None, *, environ: Mapping[str, str] | None = None) -> Config:
    """Load the config at `path` (default: the platformdirs config file)."""
    env = dict(os.environ if environ is None else environ)
    target = path or paths.config_file()
    try:
        text = target.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{target}: no configuration file (write one, or pass --config; "
                          "see daemon/config.example.yaml)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{target}: cannot read: {exc}") from None
    return parse_config(text, source=str(target), environ=env)


def parse_config(text: str, *, source: str = "<config>",
                 environ: Mapping[str, str] | None = None) -> Config:
    env = dict(os.environ if environ is None else environ)
    try:
        located = load(text)
    except YamlProblem as exc:
        raise ConfigError(f"{source}:{exc.line}: config: {exc.message}") from None
    r = Reader(located, source, env)
    top = r.mapping(located.data, (), TOP_KEYS)
    agents = parse_agents(r, top.get("agents"))
    repos = _repos(r, top.get("repos"))
    env_file = r.path(top["env_file"], ("env_file",)) if "env_file" in top else None
    try:
        agents = with_worker_secrets(agents, top.get("repos"), repos, env_file)
    except UnreadableEnvFile as exc:
        raise r.fail(("env_file",), str(exc)) from None
    default_agent = r.text(top.get("default_agent", next(iter(agents), "")), ("default_agent",))
    if default_agent not in agents:
        raise r.fail(("default_agent",), f"{default_agent!r} is not among the configured agents "
                     f"({', '.join(agents) or 'none'})")
    return Config(
        path=Path(source) if source != "<config>" else None,
        worker_id=r.text(top.get("worker_id", socket.gethostname()), ("worker_id",)),
        workspace=_path_or(r, top, "workspace", paths.workspace_dir),
        state_dir=_path_or(r, top, "state_dir", paths.state_dir),
        runtime_dir=_path_or(r, top, "runtime_dir", paths.runtime_dir),
        repos=repos,
        agents=agents,
        default_agent=default_agent,
        **_scalars(r, top),
        retry=_retry(r, top.get("retry")),
        log=_log(r, top.get("log")),
        env_file=env_file,
    )


def _path_or(r: Reader, top: dict[str, Any], key: str, default: Callable[[], Path]) -> Path:
    return r.path(top[key], (key,)) if key in top else default()


def _scalars(r: Reader, top: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in ("poll_interval", "claim_lease", "default_timeout", "max_timeout",
                "shutdown_grace", "transfer_timeout", "schedule"):
        if key in top:
            out[key] = r.duration(top[key], (key,))
    for key in ("max_parallel", "max_spec_bytes", "max_file_bytes", "max_change_bytes",
                "max_turns"):
        if key in top:
            out[key] = r.count(top[key], (key,))
    if "sandbox" in top:
        if top["sandbox"] not in SANDBOX_MODES:
            raise r.fail(("sandbox",), "expected bwrap or none")
        out["sandbox"] = top["sandbox"]
    if "unknown_agents" in top:
        if top["unknown_agents"] not in ("reject", "skip"):
            raise r.fail(("unknown_agents",), "expected reject or skip")
        out["unknown_agents"] = top["unknown_agents"]
    if "pull_request" in top:
        out["pull_request"] = _pull_request(r, top["pull_request"])
    if "require_signed" in top:
        out["require_signed"] = r.typed(top["require_signed"], ("require_signed",), bool,
                                        "true or false")
    if "allowed_signers" in top:
        out["allowed_signers"] = r.path(top["allowed_signers"], ("allowed_signers",))
    if out.get("require_signed") and "allowed_signers" not in out:
        raise r.fail(("require_signed",), "needs allowed_signers: the file of permitted keys")
    if "author" in top:
        author = r.mapping(top["author"], ("author",), ("name", "email"))
        if "name" in author:
            out["author_name"] = r.text(author["name"], ("author", "name"))
        if "email" in author:
            out["author_email"] = r.text(author["email"], ("author", "email"))
    return out


PR_KEYS = ("forge", "command", "comment_command", "draft", "reviewers", "labels", "repo")


def _pull_request(r: Reader, value: Any) -> PullRequestConfig | None:
    """`none`, a forge name (`gh` is `github`), or a mapping of PR_KEYS."""
    where: KeyPath = ("pull_request",)
    if value is None or value == "none":
        return None
    raw = {"forge": value} if isinstance(value, str) else r.mapping(value, where, PR_KEYS)
    forge = raw.get("forge", "command" if "command" in raw else None)
    forge = "github" if forge == "gh" else forge
    if forge not in FORGES:
        raise r.fail(where if isinstance(value, str) else (*where, "forge"),
                     f"expected none, {', '.join(FORGES[:-1])} (or gh), or a mapping with "
                     "command: [...]")
    if forge == "command" and not raw.get("command"):
        raise r.fail(where, "forge: command needs command: [argv template]")
    lists = {key: tuple(r.text(v, (*where, key, i)) for i, v in enumerate(
        r.typed(raw.get(key, []), (*where, key), list, "a list"))) for key in
        ("command", "comment_command", "reviewers", "labels")}
    return PullRequestConfig(
        forge=forge, draft=r.typed(raw.get("draft", True), (*where, "draft"), bool,
                                   "true or false"),
        repo=r.text(raw["repo"], (*where, "repo")) if "repo" in raw else None, **lists)


def _repos(r: Reader, value: Any) -> tuple[RepoConfig, ...]:
    if value is None:
        raise r.fail(("repos",), "at least one repository is required")
    items = r.typed(value, ("repos",), list, "a list of repositories")
    if not items:
        raise r.fail(("repos",), "at least one repository is required")
    repos: list[RepoConfig] = []
    for index, item in enumerate(items):
        where: KeyPath = ("repos", index)
        raw = r.mapping(item, where, REPO_KEYS)
        if "url" not in raw:
            raise r.fail(where, "url is required")
        url = _repo_url(r, raw["url"], (*where, "url"))
        repo = RepoConfig(
            url=url,
            branch=r.text(raw.get("branch", "main"), (*where, "branch")),
            tasks_dir=r.text(raw.get("tasks_dir", "tasks"), (*where, "tasks_dir")).strip("/"),
            name=r.text(raw.get("name", _slug(url)), (*where, "name")),
            ssh_key=r.path(raw["ssh_key"], (*where, "ssh_key")) if "ssh_key" in raw else None,
            username=r.text(raw["username"], (*where, "username")) if "username" in raw
            else None,
            token=_token(r, raw, where),
            **verify_keys(r, raw, where),
        )
        if not NAME.fullmatch(repo.name):
            raise r.fail((*where, "name"), f"{repo.name!r} cannot name a folder; set name:")
        if any(other.name == repo.name for other in repos):
            raise r.fail((*where, "name"), f"two repositories named {repo.name!r}; set name:")
        repos.append(repo)
    return tuple(repos)


def _token(r: Reader, raw: dict[str, Any], where: KeyPath) -> str | None:
    """The https token named by `token_env` (a variable of the daemon's environment, so the
    token never sits in the config file or the URL)."""
    if "token_env" not in raw:
        return None
    name = r.text(raw["token_env"], (*where, "token_env"))
    value = r.environ.get(name, "")
    if not value:
        raise r.fail((*where, "token_env"), f"{name} is not set in the daemon's environment")
    return value


def _repo_url(r: Reader, value: Any, where: KeyPath) -> str:
    text = r.text(value, where)
    if "://" in text or re.match(r"^[\w.-]+@[\w.-]+:", text):
        return text
    return str(r.path(text, where))  # a local path: ~ expanded, made absolute


def _slug(url: str) -> str:
    tail = url.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1]
    tail = tail[:-4] if tail.endswith(".git") else tail
    return re.sub(r"[^A-Za-z0-9_.-]", "-", tail).lstrip(".-") or "repo"

def _retry(r: Reader, value: Any) -> RetryPolicy:
    raw = r.mapping(value, ("retry",), RETRY_KEYS)
    changes: dict[str, Any] = {}
    for key in ("max_attempts", "breaker_threshold"):
        if key in raw:
            changes[key] = r.count(raw[key], ("retry", key))
    for key in ("initial_backoff", "max_backoff", "min_model_call", "min_spacing",
                "breaker_cooldown"):
        if key in raw:
            changes[key] = r.duration(raw[key], ("retry", key),
                                      allow_zero=key in ("min_model_call", "min_spacing"))
    return replace(RetryPolicy(), **changes)


def _log(r: Reader, value: Any) -> LogConfig:
    raw = r.mapping(value, ("log",), LOG_KEYS)
    file_value = raw.get("file", "default")
    file: Path | None
    if file_value in (None, "none", False):
        file = None
    elif file_value == "default":
        file = paths.log_dir() / "mtor-git.log"
    else:
        file = r.path(file_value, ("log", "file"))
    json_file = r.path(raw["json_file"], ("log", "json_file")) if raw.get("json_file") else None
    rotation = r.text(raw.get("rotation", "10 MB"), ("log", "rotation"))
    try:
        parse_size(rotation)  # the same reading the log sink uses, so it fails here, at load
    except ValueError as exc:
        raise r.fail(("log", "rotation"), str(exc)) from None
    level = str(raw.get("level", "INFO")).upper()
    if level not in ("TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL"):
        raise r.fail(("log", "level"), "expected DEBUG, INFO, WARNING or ERROR")
    return LogConfig(file=file, rotation=rotation,
                     retention=r.count(raw.get("retention", 5), ("log", "retention")),
                     json_file=json_file, level=level)


def check_runnable(config: Config, environ: Mapping[str, str]) -> None:
    """Refuse to start (ConfigError) when a profile's variable is missing or empty, or its
    binary is not on the PATH the agent will get."""
    for name, profile in config.agents.items():
        for var in profile.requires_env:
            if not environ.get(var):
                state = "empty" if var in environ else "not set"
                raise ConfigError(f"agent {name!r} requires {var}, which is {state} in the "
                                  "daemon's environment (systemd: check the EnvironmentFile= "
                                  "line for `export`; run `mtor-git doctor --env-file F`)")
        binary = profile.command[0]
        env = build_env(profile, environ)  # the agent's own PATH, not the daemon's
        if find_binary(binary, env) is None:
            path = env.get("PATH") or "PATH is not set"
            raise ConfigError(f"agent {name!r}: {binary!r} is not on PATH ({path})")
