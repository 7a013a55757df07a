"""The worker's configuration: load YAML, expand `~` and `${VAR}` once, validate every key with
its line, fill every default path from platformdirs. Errors are ConfigError (exit 78)."""

from __future__ import annotations

import difflib
import os
import re
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from mtor_git import paths
from mtor_git.agent.profiles import BUILTIN, PROMPT_MODES, REPORT_FORMATS, AgentProfile
from mtor_git.agent.spawn import build_env, find_binary
from mtor_git.config.expand import UnsetVariable, expand_path, expand_vars, referenced_vars
from mtor_git.durations import parse_duration
from mtor_git.errors import ConfigError
from mtor_git.logs import parse_size
from mtor_git.retry.policy import RetryPolicy
from mtor_git.spec.yamlload import KeyPath, Located, YamlProblem, load

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class RepoConfig:
    url: str
    branch: str = "main"
    tasks_dir: str = "tasks"
    name: str = ""  # folder name in the workspace, derived from the URL
    ssh_key: Path | None = None  # else the ssh agent's keys
    username: str | None = None  # https (or ssh, when the URL names no user)
    token: str | None = field(default=None, repr=False)  # https token, from `token_env`

    @property
    def slug(self) -> str:
        return self.name


@dataclass(frozen=True)
class LogConfig:
    file: Path | None
    rotation: str = "10 MB"
    retention: int = 5
    json_file: Path | None = None
    level: str = "INFO"


@dataclass(frozen=True)
class Config:
    """A loaded, validated worker configuration; every path absolute and expanded."""

    path: Path | None
    worker_id: str
    workspace: Path
    state_dir: Path
    runtime_dir: Path
    repos: tuple[RepoConfig, ...]
    agents: Mapping[str, AgentProfile]
    default_agent: str
    poll_interval: float = 15.0
    max_parallel: int = 2
    claim_lease: float = 60.0
    default_timeout: float = 1800.0
    max_timeout: float = 3 * 3600.0
    shutdown_grace: float = 30.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    log: LogConfig = field(default_factory=lambda: LogConfig(file=None))
    pull_request: str | None = None
    # A spec naming a profile this worker lacks: "reject" it (one worker, a typo must not wait
    # forever) or "skip" it, leaving it to another worker of a mixed fleet.
    unknown_agents: str = "reject"
    require_signed: bool = False
    allowed_signers: Path | None = None
    author_name: str = "mtor-git"
    author_email: str = "mtor-git@localhost"
    max_spec_bytes: int = 256 * 1024
    max_turns: int | None = None  # the worker's turn cap per task; a spec's smaller one wins

    @property
    def heartbeat(self) -> float:
        """Claims are renewed three times per lease, so one slow renewal never loses a claim."""
        return max(self.claim_lease / 3.0, 0.5)


TOP_KEYS = ("worker_id", "workspace", "state_dir", "runtime_dir", "poll_interval",
            "max_parallel", "claim_lease", "default_timeout", "max_timeout", "shutdown_grace",
            "repos", "default_agent", "agents", "retry", "log", "pull_request", "unknown_agents",
            "require_signed", "allowed_signers", "author", "max_spec_bytes", "max_turns")
REPO_KEYS = ("url", "branch", "tasks_dir", "name", "ssh_key", "username", "token_env")
AGENT_KEYS = ("extends", "command", "prompt", "report", "env", "requires_env", "pass_env",
              "timeout", "fallback", "max_parallel", "max_attempts", "model_args",
              "stall_timeout", "max_cli_retry_wait", "max_turns", "max_turns_args",
              "max_cost_args", "resume_args")
RETRY_KEYS = ("max_attempts", "initial_backoff", "max_backoff", "min_model_call", "min_spacing",
              "breaker_threshold", "breaker_cooldown")
LOG_KEYS = ("file", "rotation", "retention", "json_file", "level")


class _Reader:
    """Typed access to the located YAML, raising ConfigError as `file:line: field: message`."""

    def __init__(self, located: Located, source: str, environ: Mapping[str, str]) -> None:
        self.located, self.source, self.environ = located, source, environ

    def fail(self, path: KeyPath, message: str) -> ConfigError:
        field_name = ".".join(str(p) for p in path) or "config"
        return ConfigError(f"{self.source}:{self.located.line(path)}: {field_name}: {message}")

    def mapping(self, value: Any, path: KeyPath, keys: tuple[str, ...]) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.fail(path, "expected a mapping")
        for key in value:
            if key not in keys:
                hint = difflib.get_close_matches(key, list(keys), n=1)
                tip = f"; did you mean {hint[0]!r}?" if hint else f"; known: {', '.join(keys)}"
                raise self.fail((*path, key), f"unknown key{tip}")
        return value

    def typed(self, value: Any, path: KeyPath, kind: type | tuple[type, ...], what: str) -> Any:
        if isinstance(value, bool) and kind is not bool:
            raise self.fail(path, f"expected {what}, got a boolean")
        if not isinstance(value, kind):
            raise self.fail(path, f"expected {what}, got {type(value).__name__}")
        return value

    def duration(self, value: Any, path: KeyPath, *, allow_zero: bool = False) -> float:
        try:
            return parse_duration(value, allow_zero=allow_zero)
        except ValueError as exc:
            raise self.fail(path, str(exc)) from None

    def count(self, value: Any, path: KeyPath, minimum: int = 1) -> int:
        number: int = self.typed(value, path, int, "a whole number")
        if number < minimum:
            raise self.fail(path, f"must be at least {minimum}")
        return number

    def text(self, value: Any, path: KeyPath) -> str:
        result: str = self.typed(value, path, str, "text")
        try:
            return expand_vars(result, self.environ)
        except UnsetVariable as exc:
            raise self.fail(path, f"{exc} in the daemon's environment") from None

    def path(self, value: Any, path: KeyPath) -> Path:
        raw: str = self.typed(value, path, str, "a path")
        try:
            expanded = expand_path(raw, self.environ)
        except UnsetVariable as exc:
            raise self.fail(path, f"{exc} in the daemon's environment") from None
        if not os.path.isabs(expanded):
            base = Path(self.source).parent if self.source != "<config>" else Path.cwd()
            expanded = str(base / expanded)
        return Path(os.path.normpath(expanded))

    def names(self, value: Any, path: KeyPath) -> tuple[str, ...]:
        items = self.typed(value, path, list, "a list of variable names")
        for index, item in enumerate(items):
            if not isinstance(item, str) or not _ENV_NAME.fullmatch(item):
                raise self.fail((*path, index), f"{item!r} is not an environment variable name")
        return tuple(items)


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
    r = _Reader(located, source, env)
    top = r.mapping(located.data, (), TOP_KEYS)
    agents = _agents(r, top.get("agents"))
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
        repos=_repos(r, top.get("repos")),
        agents=agents,
        default_agent=default_agent,
        **_scalars(r, top),
        retry=_retry(r, top.get("retry")),
        log=_log(r, top.get("log")),
    )


def _path_or(r: _Reader, top: dict[str, Any], key: str, default: Callable[[], Path]) -> Path:
    return r.path(top[key], (key,)) if key in top else default()


def _scalars(r: _Reader, top: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in ("poll_interval", "claim_lease", "default_timeout", "max_timeout",
                "shutdown_grace"):
        if key in top:
            out[key] = r.duration(top[key], (key,))
    for key in ("max_parallel", "max_spec_bytes", "max_turns"):
        if key in top:
            out[key] = r.count(top[key], (key,))
    if "unknown_agents" in top:
        if top["unknown_agents"] not in ("reject", "skip"):
            raise r.fail(("unknown_agents",), "expected reject or skip")
        out["unknown_agents"] = top["unknown_agents"]
    if "pull_request" in top and top["pull_request"] is not None:
        if top["pull_request"] not in ("gh", "none"):
            raise r.fail(("pull_request",), "expected gh or none")
        out["pull_request"] = None if top["pull_request"] == "none" else "gh"
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


def _repos(r: _Reader, value: Any) -> tuple[RepoConfig, ...]:
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
        )
        if not _NAME.fullmatch(repo.name):
            raise r.fail((*where, "name"), f"{repo.name!r} cannot name a folder; set name:")
        if any(other.name == repo.name for other in repos):
            raise r.fail((*where, "name"), f"two repositories named {repo.name!r}; set name:")
        repos.append(repo)
    return tuple(repos)


def _token(r: _Reader, raw: dict[str, Any], where: KeyPath) -> str | None:
    """The https token named by `token_env` (a variable of the daemon's environment, so the
    token never sits in the config file or the URL)."""
    if "token_env" not in raw:
        return None
    name = r.text(raw["token_env"], (*where, "token_env"))
    value = r.environ.get(name, "")
    if not value:
        raise r.fail((*where, "token_env"), f"{name} is not set in the daemon's environment")
    return value


def _repo_url(r: _Reader, value: Any, where: KeyPath) -> str:
    text = r.text(value, where)
    if "://" in text or re.match(r"^[\w.-]+@[\w.-]+:", text):
        return text
    return str(r.path(text, where))  # a local path: ~ expanded, made absolute


def _slug(url: str) -> str:
    tail = url.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1]
    tail = tail[:-4] if tail.endswith(".git") else tail
    return re.sub(r"[^A-Za-z0-9_.-]", "-", tail).lstrip(".-") or "repo"


def _agents(r: _Reader, value: Any) -> dict[str, AgentProfile]:
    if value is None:
        raise r.fail(("agents",), "at least one agent profile is required "
                     f"(ready ones to extend: {', '.join(BUILTIN)})")
    raw_all = r.typed(value, ("agents",), dict, "a mapping of profile name to profile")
    agents = {}
    for name, raw in raw_all.items():
        if not _NAME.fullmatch(name):
            raise r.fail(("agents", name), f"{name!r} is not a valid profile name")
        agents[name] = _agent(r, name, raw)
    for name, profile in agents.items():
        if profile.fallback is not None and profile.fallback not in agents:
            raise r.fail(("agents", name, "fallback"),
                         f"{profile.fallback!r} is not a configured agent")
        if profile.fallback == name:
            raise r.fail(("agents", name, "fallback"), "a profile cannot fall back to itself")
    return agents


def _agent(r: _Reader, name: str, value: Any) -> AgentProfile:
    where: KeyPath = ("agents", name)
    raw = r.mapping(value, where, AGENT_KEYS)
    base_name = raw.get("extends", name if name in BUILTIN and "command" not in raw else None)
    if base_name is not None and base_name not in BUILTIN:
        raise r.fail((*where, "extends"), f"no ready profile {base_name!r} "
                     f"(ready: {', '.join(BUILTIN)})")
    base = BUILTIN[base_name] if base_name else AgentProfile(name=name, command=())
    changes: dict[str, Any] = {"name": name}
    if "command" in raw:
        changes["command"] = _command(r, raw["command"], (*where, "command"))
    for key, allowed in (("prompt", PROMPT_MODES), ("report", REPORT_FORMATS)):
        if key in raw and raw[key] not in allowed:
            raise r.fail((*where, key), f"expected one of {', '.join(allowed)}")
        if key in raw:
            changes[key] = raw[key]
    for key in ("requires_env", "pass_env"):
        if key in raw:
            changes[key] = r.names(raw[key], (*where, key))
    for key in ("model_args", "max_turns_args", "max_cost_args", "resume_args"):
        if key in raw:
            changes[key] = _command(r, raw[key], (*where, key), empty=True)
    for key in ("stall_timeout", "max_cli_retry_wait"):  # `off` (or null) switches it off
        if key in raw:
            changes[key] = None if raw[key] in (None, "off", False) else r.duration(
                raw[key], (*where, key))
    if "timeout" in raw:
        changes["timeout"] = r.duration(raw["timeout"], (*where, "timeout"))
    for key in ("max_parallel", "max_attempts", "max_turns"):
        if key in raw:
            changes[key] = r.count(raw[key], (*where, key))
    if "fallback" in raw:
        changes["fallback"] = r.text(raw["fallback"], (*where, "fallback"))
    profile = replace(base, **changes)
    profile = _agent_env(r, profile, raw.get("env"), (*where, "env"))
    if not profile.command:
        raise r.fail(where, "command is required (or extends: one of " + ", ".join(BUILTIN) + ")")
    if profile.prompt == "file" and "{prompt_file}" not in profile.command:
        raise r.fail((*where, "command"), "prompt: file needs {prompt_file} in the command")
    return profile


def _command(r: _Reader, value: Any, where: KeyPath, *, empty: bool = False) -> tuple[str, ...]:
    if isinstance(value, str):
        raise r.fail(where, "must be a list of arguments, never a shell string "
                     "(e.g. [claude, -p, --output-format, json])")
    items = r.typed(value, where, list, "a list of arguments")
    if not items and not empty:
        raise r.fail(where, "must not be empty")
    return tuple(r.text(item if not isinstance(item, int | float) or isinstance(item, bool)
                        else str(item), (*where, i)) for i, item in enumerate(items))


def _agent_env(r: _Reader, profile: AgentProfile, value: Any, where: KeyPath) -> AgentProfile:
    if value is None:
        return profile
    raw = r.typed(value, where, dict, "a mapping of variable name to value")
    env = dict(profile.env)
    secret = list(profile.secret_env)
    for key, item in raw.items():
        if not _ENV_NAME.fullmatch(str(key)):
            raise r.fail((*where, key), f"{key!r} is not an environment variable name")
        text = str(item) if isinstance(item, int | float) and not isinstance(item, bool) else item
        env[key] = r.text(text, (*where, key))
        if isinstance(text, str) and referenced_vars(text):
            secret.append(key)  # its value came from the daemon's environment: treat as secret
    return replace(profile, env=env, secret_env=tuple(dict.fromkeys(secret)))


def _retry(r: _Reader, value: Any) -> RetryPolicy:
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


def _log(r: _Reader, value: Any) -> LogConfig:
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
