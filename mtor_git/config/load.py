"""The worker's configuration: load YAML, expand `~` and `${VAR}` once, validate every key with
its line, fill every default path from platformdirs. Errors are ConfigError (exit 78). The values
are in `config/model.py`, agent profiles are composed in `config/agents.py`."""

from __future__ import annotations

import functools
import os
import re
import socket
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from mtor_git import paths
from mtor_git.agent.preflight import build_env, find_binary
from mtor_git.agent.profiles import AgentProfile
from mtor_git.agent.sandbox import SANDBOX_MODES
from mtor_git.config.agents import parse_agents, verify_keys
from mtor_git.config.budget import DailyBudget, parse_budget
from mtor_git.config.model import FORGES, PullRequestConfig
from mtor_git.config.model import Config as Config
from mtor_git.config.model import LogConfig as LogConfig
from mtor_git.config.model import RepoConfig as RepoConfig
from mtor_git.config.reader import NAME, Reader
from mtor_git.config.secrets import UnreadableEnvFile, env_file_values, with_worker_secrets
from mtor_git.errors import ConfigError
from mtor_git.logs import parse_size
from mtor_git.retry.policy import RetryPolicy
from mtor_git.spec.yamlload import KeyPath, YamlProblem, load

TOP_KEYS = ("worker_id", "workspace", "state_dir", "runtime_dir", "poll_interval",
            "max_parallel", "claim_lease", "default_timeout", "max_timeout", "shutdown_grace",
            "repos", "default_agent", "agents", "retry", "log", "pull_request", "unknown_agents",
            "require_signed", "allowed_signers", "author", "max_spec_bytes", "sandbox",
            "max_file_bytes", "max_change_bytes", "env_file", "transfer_timeout", "schedule",
            "max_turns", "budget")
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
    """Read every field on its own: a bad config is reported whole, one `file:line: field:
    message` line per problem (ConfigError), not only its first problem."""
    env = dict(os.environ if environ is None else environ)
    try:
        located = load(text)
    except YamlProblem as exc:
        raise ConfigError(f"{source}:{exc.line}: config: {exc.message}") from None
    r = Reader(located, source, env)
    top: dict[str, Any] = r.attempt(lambda: r.mapping(located.data, (), TOP_KEYS), {})
    before = len(r.problems())
    agents: dict[str, AgentProfile] = r.attempt(lambda: parse_agents(r, top.get("agents")), {})
    agents_read = len(r.problems()) == before
    repos: tuple[RepoConfig, ...] = r.attempt(lambda: _repos(r, top.get("repos")), ())
    env_file: Path | None = r.attempt(lambda: r.path(top["env_file"], ("env_file",))
                                      if "env_file" in top else None)
    agents = _with_secrets(r, agents, top.get("repos"), repos, env_file)
    default_agent: str = r.attempt(lambda: _default_agent(r, top, agents, agents_read), "")
    worker_id: str = r.attempt(lambda: r.text(top.get("worker_id", socket.gethostname()),
                                              ("worker_id",)), "")
    dirs = {key: r.attempt(functools.partial(_path_or, r, top, key, default), Path())
            for key, default in (("workspace", paths.workspace_dir),
                                 ("state_dir", paths.state_dir),
                                 ("runtime_dir", paths.runtime_dir))}
    scalars = _scalars(r, top)
    retry = _retry(r, top.get("retry"))
    log: LogConfig = r.attempt(lambda: _log(r, top.get("log")), LogConfig(file=None))
    budget: DailyBudget = r.attempt(lambda: parse_budget(r, top.get("budget") or {}, ("budget",)),
                                    DailyBudget())
    r.check()  # every problem at once, a line each
    return Config(
        path=Path(source) if source != "<config>" else None, worker_id=worker_id,
        workspace=dirs["workspace"], state_dir=dirs["state_dir"],
        runtime_dir=dirs["runtime_dir"], repos=repos, agents=agents,
        default_agent=default_agent, **scalars, retry=retry, log=log, env_file=env_file,
        budget=budget,
    )


def _with_secrets(r: Reader, agents: dict[str, AgentProfile], raw_repos: Any,
                  repos: tuple[RepoConfig, ...], env_file: Path | None) -> dict[str, AgentProfile]:
    """The profiles with the worker's own secrets; with problems already found (the config is
    refused anyway, `repos` may be partial) only whether `env_file` is readable."""
    try:
        if r.problems():
            if env_file is not None:
                env_file_values(env_file)
            return agents
        return with_worker_secrets(agents, raw_repos, repos, env_file)
    except UnreadableEnvFile as exc:
        r.note(r.fail(("env_file",), str(exc)))
        return agents


def _default_agent(r: Reader, top: dict[str, Any], agents: Mapping[str, AgentProfile],
                   agents_read: bool) -> str:
    default_agent = r.text(top.get("default_agent", next(iter(agents), "")), ("default_agent",))
    if default_agent not in agents and agents_read:  # else the agents' own problems say why
        raise r.fail(("default_agent",), f"{default_agent!r} is not among the configured agents "
                     f"({', '.join(agents) or 'none'})")
    return default_agent


def _path_or(r: Reader, top: dict[str, Any], key: str, default: Callable[[], Path]) -> Path:
    return r.path(top[key], (key,)) if key in top else default()


_DURATIONS = ("poll_interval", "claim_lease", "default_timeout", "max_timeout",
              "shutdown_grace", "transfer_timeout", "schedule")
_COUNTS = ("max_parallel", "max_spec_bytes", "max_file_bytes", "max_change_bytes", "max_turns")
_CHOICES: dict[str, tuple[str, ...]] = {"sandbox": tuple(SANDBOX_MODES),
                                        "unknown_agents": ("reject", "skip")}
_UNSET: Any = object()


def _scalars(r: Reader, top: dict[str, Any]) -> dict[str, Any]:
    """The top-level values with a default in Config, each read on its own (a problem with one
    is recorded, the others are still read)."""
    out: dict[str, Any] = {}
    for key in (*_DURATIONS, *_COUNTS, *_CHOICES, "require_signed", "allowed_signers"):
        if key in top:
            value = r.attempt(functools.partial(_scalar, r, key, top[key]), _UNSET)
            if value is not _UNSET:
                out[key] = value
    if "pull_request" in top:
        out["pull_request"] = r.attempt(lambda: _pull_request(r, top["pull_request"]))
    if out.get("require_signed") and "allowed_signers" not in top:
        r.note(r.fail(("require_signed",), "needs allowed_signers: the file of permitted keys"))
    if "author" in top:
        out.update(r.attempt(lambda: _author(r, top["author"]), {}))
    return out


def _scalar(r: Reader, key: str, value: Any) -> Any:
    if key in _DURATIONS:
        return r.duration(value, (key,))
    if key in _COUNTS:
        return r.count(value, (key,))
    if key in _CHOICES:
        if value not in _CHOICES[key]:
            raise r.fail((key,), f"expected {' or '.join(_CHOICES[key])}")
        return value
    if key == "require_signed":
        return r.typed(value, (key,), bool, "true or false")
    return r.path(value, (key,))


def _author(r: Reader, value: Any) -> dict[str, str]:
    author = r.mapping(value, ("author",), ("name", "email"))
    out = {}
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
        repo = r.attempt(functools.partial(_repo, r, item, ("repos", index), repos))
        if repo is not None:
            repos.append(repo)
    return tuple(repos)


def _repo(r: Reader, item: Any, where: KeyPath, before: list[RepoConfig]) -> RepoConfig:
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
    if any(other.name == repo.name for other in before):
        raise r.fail((*where, "name"), f"two repositories named {repo.name!r}; set name:")
    return repo


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
    raw: dict[str, Any] = r.attempt(lambda: r.mapping(value, ("retry",), RETRY_KEYS), {})
    changes: dict[str, Any] = {}
    for key, item in raw.items():
        got = r.attempt(functools.partial(_retry_value, r, key, item), _UNSET)
        if got is not _UNSET:
            changes[key] = got
    return replace(RetryPolicy(), **changes)


def _retry_value(r: Reader, key: str, value: Any) -> Any:
    if key in ("max_attempts", "breaker_threshold"):
        return r.count(value, ("retry", key))
    return r.duration(value, ("retry", key), allow_zero=key in ("min_model_call", "min_spacing"))


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
