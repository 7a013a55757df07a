"""`mtor-git doctor` as a library: every part a run needs, checked against the environment the
daemon will really get, each result a value (Check). Nothing here prints; the CLI does.

A check that was not made says `skip` with the reason; it never passes by default. Groups:
config, env file, env <VAR>, agent <name>, secrets (doctor/secrets.py), workspace / state dir /
log file, repo <name>, clock (doctor_checks), daemon heartbeat / polls / outcomes
(doctor_status), probe <name> (doctor_probe).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Literal

from mtor_git import paths
from mtor_git.config.envfile import EnvFile, lint_env_file, parse_env_file
from mtor_git.config.expand import referenced_vars
from mtor_git.config.load import load_config
from mtor_git.config.model import Config
from mtor_git.errors import ConfigError

Status = Literal["pass", "fail", "warn", "skip"]
JSON_VERSION = 1
# systemd's PATH for services of the system manager (systemd >= 240); a user manager passes its
# own, which is usually the same unless the user imported one.
SYSTEMD_DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin"
# systemd sets these from User= (system unit) or the user manager (user unit); doctor can only
# assume it runs as that user.
_IDENTITY = ("HOME", "USER", "LOGNAME", "SHELL")
_PLACEHOLDER = "doctor-placeholder-for-unset-variable"


@dataclass(frozen=True)
class Check:
    """One line of the verdict. `hint` says how to fix a fail or warn (empty otherwise)."""

    name: str
    status: Status
    detail: str
    hint: str = ""

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "status": self.status, "detail": self.detail,
                "hint": self.hint}


@dataclass(frozen=True)
class DoctorReport:
    checks: tuple[Check, ...]

    @property
    def ok(self) -> bool:
        return not any(c.status == "fail" for c in self.checks)

    def to_json(self) -> dict[str, Any]:
        return {"version": JSON_VERSION, "checks": [c.to_json() for c in self.checks],
                "ok": self.ok}


@dataclass(frozen=True)
class DoctorOptions:
    """`environ` is doctor's own environment; with `env_file` the daemon's is modelled instead."""

    config_path: Path | None = None
    env_file: Path | None = None
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    probe: bool = False
    version_timeout: float = 10.0
    probe_timeout: float = 180.0
    warn_free_bytes: int = 1 << 30
    fail_free_bytes: int = 100 << 20


@dataclass(frozen=True)
class DaemonEnv:
    """The environment the daemon will run with, and where it came from (for messages)."""

    values: Mapping[str, str]
    source: str
    env_file: EnvFile | None = None


def daemon_environment(env_file: Path | None, current: Mapping[str, str]) -> DaemonEnv:
    """Without an env file: this process's environment (a daemon started from this shell).
    With one: what systemd gives a service, never the shell's: the file as systemd parses it
    (a dropped `export X=` line sets nothing), over PATH and the user's identity."""
    if env_file is None:
        return DaemonEnv(dict(current), "this shell's environment (pass --env-file to check "
                         "what systemd gives the service instead)")
    parsed = parse_env_file(env_file)
    values = {"PATH": SYSTEMD_DEFAULT_PATH}
    values.update({k: current[k] for k in _IDENTITY if k in current})
    values.update(parsed.values)
    return DaemonEnv(values, f"the environment systemd gives the service from {env_file}",
                     parsed)


# -- config ----------------------------------------------------------------------------------
def check_config(path: Path | None, env: DaemonEnv) -> tuple[Check, Config | None]:
    """Load the config with the daemon's environment. When only unset `${VAR}`s stop it, the
    check fails but a config loaded with placeholders is returned so the other checks run."""
    target = path or paths.config_file()
    try:
        config = load_config(target, environ=env.values)
    except ConfigError as exc:
        return _config_failure(target, env, exc)
    names = ", ".join(config.agents)
    return Check("config", "pass", f"{target}: {len(config.agents)} agent profile(s) ({names}), "
                 f"{len(config.repos)} repositor(ies), worker {config.worker_id}"), config


def _config_failure(target: Path, env: DaemonEnv,
                    exc: ConfigError) -> tuple[Check, Config | None]:
    hint = "fix the line named; see daemon/config.example.yaml"
    try:
        unset = [v for v in referenced_vars(target.read_text(encoding="utf-8"))
                 if not env.values.get(v)]
    except (OSError, UnicodeDecodeError):
        unset = []
    lenient: Config | None = None
    if unset:
        hint = (f"set {', '.join(dict.fromkeys(unset))} in "
                f"{env.env_file.path if env.env_file else 'the environment'}")
        try:
            lenient = load_config(target, environ={**env.values,
                                                   **dict.fromkeys(unset, _PLACEHOLDER)})
        except ConfigError:
            lenient = None
    return Check("config", "fail", str(exc), hint), lenient


def required_vars(config: Config) -> dict[str, list[str]]:
    """Each variable some profile requires, with the profiles requiring it (config order)."""
    needed: dict[str, list[str]] = {}
    for name, profile in config.agents.items():
        for var in profile.requires_env:
            needed.setdefault(var, []).append(name)
    return needed


# -- env file and variables ------------------------------------------------------------------
def check_env_file(env: DaemonEnv, required: Mapping[str, list[str]]) -> Check:
    if env.env_file is None:
        return Check("env file", "skip", "no --env-file given: the variables are checked in "
                     "this shell's environment, which a systemd service does not get")
    path = env.env_file.path
    problems = lint_env_file(path, required)
    errors = [p for p in problems if p.severity == "error"]
    if not problems:
        names = ", ".join(env.env_file.values) or "none"
        return Check("env file", "pass", f"{path}: systemd reads it cleanly; sets {names} "
                     f"(the daemon is modelled with PATH={env.values.get('PATH')} and the "
                     "HOME/USER of whoever runs doctor: run it as the service user)")
    hint = ("remove `export` from the lines named: systemd reads KEY=value lines only"
            if any("`export" in p.message for p in problems)
            else "fix the lines named (KEY=value lines; see deploy/systemd/mtor-git.env.example)")
    return Check("env file", "fail" if errors else "warn",
                 "\n".join(str(p) for p in problems), hint)


def check_env_vars(env: DaemonEnv, required: Mapping[str, list[str]]) -> Iterator[Check]:
    if not required:
        yield Check("env", "pass", "no agent profile requires a variable (requires_env)")
    for var, profiles in required.items():
        who = ", ".join(repr(p) for p in profiles)
        if env.values.get(var):
            yield Check(f"env {var}", "pass", f"set in {env.source} (required by {who}; "
                        "value not shown)")
            continue
        state = "empty" if var in env.values else "not set"
        detail = f"{var} is {state} in {env.source} (required by {who})"
        yield Check(f"env {var}", "fail", detail + _dropped_note(env, var), _env_hint(env, var))


def _dropped_lines(env: DaemonEnv, var: str) -> list[int]:
    if env.env_file is None:
        return []
    return [a.line for a in env.env_file.assignments
            if not a.valid and a.name.replace("\ufeff", "").split()[-1:] == [var]]


def _dropped_note(env: DaemonEnv, var: str) -> str:
    lines = _dropped_lines(env, var)
    if not lines:
        return ""
    return (f"; line {lines[0]} of {env.env_file.path if env.env_file else '?'} sets it in a "
            f"form systemd drops (`export {var}=...` is read as the invalid name "
            f"'export {var}'), so the service starts without it")


def _env_hint(env: DaemonEnv, var: str) -> str:
    if env.env_file is None:
        return (f"set {var} for the daemon; under systemd put `{var}=value` in its "
                "EnvironmentFile and check it with `mtor-git doctor --env-file F`")
    lines = _dropped_lines(env, var)
    if lines:
        return f"write line {lines[0]} of {env.env_file.path} as `{var}=value`, without `export`"
    return f"add a line `{var}=value` to {env.env_file.path}"


# -- orchestration ---------------------------------------------------------------------------
OnCheck = Callable[[Check], None]


def run_doctor(opts: DoctorOptions, on_check: OnCheck | None = None) -> DoctorReport:
    """Every check, in a fixed order; `on_check` sees each as soon as it is made."""
    # Imported here: those modules import Check from this one.
    from mtor_git.doctor.checks import check_agents, check_clock, check_dirs, check_repos
    from mtor_git.doctor.probe import check_probes
    from mtor_git.doctor.sandbox import check_sandbox
    from mtor_git.doctor.secrets import check_secrets
    from mtor_git.doctor.status import check_daemon

    checks: list[Check] = []

    def add(group: str, make: Callable[[], Iterable[Check] | Check]) -> None:
        for check in _guarded(group, make):
            checks.append(check)
            if on_check is not None:
                on_check(check)

    env = daemon_environment(opts.env_file, opts.environ)
    config_check, config = check_config(opts.config_path, env)
    add("config", lambda: config_check)
    required = required_vars(config) if config is not None else {}
    add("env file", lambda: check_env_file(env, required))
    if config is None:
        reason = "not checked: the configuration could not be loaded"
        for group in ("env", "agents", "sandbox", "workspace", "repos", "clock", "daemon",
                      "probe"):
            add(group, partial(Check, group, "skip", reason))
        return DoctorReport(tuple(checks))
    cfg = config
    add("env", lambda: check_env_vars(env, required))
    add("agents", lambda: check_agents(cfg, env.values, opts.version_timeout))
    add("secrets", lambda: check_secrets(cfg, env))
    add("sandbox", lambda: check_sandbox(cfg, env.values))
    add("workspace", lambda: check_dirs(cfg, opts.warn_free_bytes, opts.fail_free_bytes))
    add("repos", lambda: check_repos(cfg))
    add("clock", lambda: check_clock(cfg))
    add("daemon", lambda: check_daemon(cfg))
    if config_check.status == "fail":
        add("probe", lambda: Check("probe", "skip", "not run: the configuration only loaded "
                                   "with placeholders for unset variables, so the agents would "
                                   "not get real values"))
    else:
        add("probe", lambda: check_probes(cfg, env.values, opts.probe, opts.probe_timeout))
    return DoctorReport(tuple(checks))


def _guarded(group: str, make: Callable[[], Iterable[Check] | Check]) -> Iterator[Check]:
    """A bug in one check becomes a failed check, never a crash nor a silent pass."""
    try:
        made = make()
        if isinstance(made, Check):
            yield made
        else:
            yield from made
    except Exception as exc:  # any bug here must surface as a failed check
        yield Check(group, "fail", f"doctor could not check this: {type(exc).__name__}: {exc}",
                    "a bug in mtor-git doctor; please report it with this line")
