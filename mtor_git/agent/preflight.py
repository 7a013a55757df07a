"""Preflight of one agent attempt: the request, the agent's explicit environment and argv, and
every check before a process may start (binary on the agent's own PATH, cwd in a git worktree,
required variables, prompt mode, nothing unexpanded, the sandbox plan). Failures raise
PreflightError (terminal, never retried); what passes is a Prepared request."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from mtor_git.agent.capture import DEFAULT_LIMIT
from mtor_git.agent.identity import IDENTITY_ENV
from mtor_git.agent.live import LiveLimits
from mtor_git.agent.profiles import BASE_PASS_ENV, AgentProfile
from mtor_git.agent.redact import Redactor, secrets_from
from mtor_git.agent.sandbox import NO_SANDBOX, Sandbox, SandboxPath, SandboxSpec, plan_checked
from mtor_git.errors import PreflightError

PROMPT_FILE_TOKEN = "{prompt_file}"
MODEL_ARGS_TOKEN = "{model_args}"
MODEL_TOKEN = "{model}"
_PLACE_TOKENS = frozenset({"{cap_args}", "{resume_args}"})  # filled per attempt (agent/resume.py)
# `~` at the start of a word or after `=`/`:` (`--dir=~/x`, `PATH=a:~/bin`), or a braced `${VAR}`.
_UNEXPANDED = re.compile(r"(?:^|[=:])~(?:/|$|[A-Za-z_])|\$\{[A-Za-z_][A-Za-z0-9_]*\}")


def _default_environ() -> Mapping[str, str]:
    return dict(os.environ)


@dataclass(frozen=True)
class RunRequest:
    """Everything one attempt needs. `environ` is the daemon's environment to draw from (default: a
    snapshot of this process's); only named variables reach the agent."""

    profile: AgentProfile
    prompt: str
    cwd: Path
    model: str | None = None
    timeout: float = 1800.0
    environ: Mapping[str, str] = field(default_factory=_default_environ)
    output_limit: int = DEFAULT_LIMIT
    kill_grace: float = 5.0
    live: LiveLimits | None = None  # None: the profile's stall_timeout, no caps
    sandbox: Sandbox = NO_SANDBOX
    # Shown read-only inside the sandbox besides what the profile declares (for example the
    # objects directory a checkout borrows through `objects/info/alternates`).
    ro_paths: tuple[Path, ...] = ()


@dataclass(frozen=True)
class Prepared:
    """A request that passed preflight. `argv` is unredacted and may still hold {prompt_file}
    (filled per attempt); `env` is the agent's whole environment."""

    request: RunRequest
    argv: tuple[str, ...]
    env: Mapping[str, str]
    redactor: Redactor
    binary: str  # the resolved absolute path of argv[0]
    box: SandboxSpec | None = None  # planned; its HOME/TMPDIR are made per attempt

    def argv_with(self, prompt_file: str | None) -> tuple[str, ...]:
        argv = tuple(a for a in self.argv if a not in _PLACE_TOKENS)  # nothing placed there
        if prompt_file is None:
            return argv
        return tuple(a.replace(PROMPT_FILE_TOKEN, prompt_file) for a in argv)


def build_env(profile: AgentProfile, environ: Mapping[str, str]) -> dict[str, str]:
    """The agent's environment, built explicitly: the base names, the profile's pass-through and
    required names copied from `environ`, then the profile's own (already expanded) values."""
    env: dict[str, str] = {}
    for name in (*BASE_PASS_ENV, *IDENTITY_ENV, *profile.pass_env, *profile.requires_env):
        if name in environ:
            env[name] = environ[name]
    env.update(profile.env)
    return env


def build_argv(profile: AgentProfile, model: str | None) -> tuple[str, ...]:
    """The command with model arguments spliced in at {model_args} (appended when absent), or
    the token dropped when no model is given."""
    extra = tuple(a.replace(MODEL_TOKEN, model) for a in profile.model_args) if model else ()
    argv: list[str] = []
    placed = False
    for arg in profile.command:
        if arg == MODEL_ARGS_TOKEN:
            argv.extend(extra)
            placed = True
        else:
            argv.append(arg)
    if not placed:
        argv.extend(extra)
    return tuple(argv)


def preflight(req: RunRequest) -> Prepared:
    """Check everything an agent needs before it is started; raise PreflightError(kind, ...)."""
    profile = req.profile
    env = build_env(profile, req.environ)
    redactor = Redactor(secrets_from(profile, {**req.environ, **env}))
    argv = build_argv(profile, req.model)
    _check_unexpanded(argv, req.cwd, profile.env, redactor)
    _check_cwd(req.cwd)
    for name in profile.requires_env:
        if not req.environ.get(name):
            state = "empty" if name in req.environ else "not set"
            raise PreflightError("missing_env", f"agent {profile.name!r} requires {name}, which "
                                 f"is {state} in the worker's environment")
    _check_prompt_mode(profile, argv)
    binary = _resolve_binary(argv, env, req.cwd)
    box = None if req.sandbox.mode == "none" else plan_checked(
        req.sandbox, cwd=req.cwd, paths=(*profile.sandbox_paths, *_state_dirs(profile, env)),
        network=profile.network,
        extra_ro=req.ro_paths, environ=req.environ, binary=binary, agent=profile.name, env=env)
    if profile.prompt != "none" and not req.prompt.strip():
        raise PreflightError("empty_prompt", "the prompt is empty")
    return Prepared(req, (binary, *argv[1:]), env, redactor, binary, box)


def _state_dirs(profile: AgentProfile, env: Mapping[str, str]) -> tuple[SandboxPath, ...]:
    """The CLI's own state directories its profile names by variable, shown writable."""
    dirs = [Path(env[name]) for name in profile.state_env if env.get(name)]
    return tuple(SandboxPath(d, writable=True) for d in dirs if d.is_absolute() and d.is_dir())


def _check_unexpanded(argv: tuple[str, ...], cwd: Path, env: Mapping[str, str],
                      redactor: Redactor) -> None:
    places = [(f"argv[{i}]", a) for i, a in enumerate(argv)]
    places += [("cwd", str(cwd))] + [(f"env {k}", v) for k, v in env.items()]
    for where, value in places:
        if _UNEXPANDED.search(value):
            raise PreflightError("unexpanded_path", f"{where} is not expanded: "
                                 f"{redactor.text(value)!r} (a `~` or `${{VAR}}` would reach the "
                                 "agent literally)")


def _check_cwd(cwd: Path) -> None:
    if not cwd.is_absolute():
        raise PreflightError("bad_cwd", f"working directory {str(cwd)!r} is not absolute")
    if not cwd.is_dir():
        raise PreflightError("bad_cwd", f"working directory {str(cwd)!r} does not exist")
    # What git itself does: a `.git` entry (directory, or file for a linked worktree) here or above.
    if not any((p / ".git").exists() for p in (cwd, *cwd.parents)):
        raise PreflightError("bad_cwd", f"working directory {str(cwd)!r} is not in a git worktree")


def _check_prompt_mode(profile: AgentProfile, argv: tuple[str, ...]) -> None:
    has_token = any(PROMPT_FILE_TOKEN in a for a in argv)
    if profile.prompt == "file" and not has_token:
        raise PreflightError("bad_profile", f"agent {profile.name!r}: prompt: file needs "
                             f"{PROMPT_FILE_TOKEN} in the command")
    if profile.prompt == "stdin" and has_token:
        raise PreflightError("bad_profile", f"agent {profile.name!r}: {PROMPT_FILE_TOKEN} in the "
                             "command but prompt: stdin")


def find_binary(name: str, env: Mapping[str, str], cwd: Path | None = None) -> str | None:
    """The one rule for "can this agent's binary start": a name with a slash is a file
    (relative to `cwd`, or to this process's directory without one) that must be executable;
    a bare name is looked up on the PATH of `env` (the agent's own environment), never on ours.
    The absolute path found, or None."""
    if not name:
        return None
    if os.sep in name:
        path = Path(name) if os.path.isabs(name) or cwd is None else cwd / name
        return str(path) if path.is_file() and os.access(path, os.X_OK) else None
    search = env.get("PATH", "")
    found = shutil.which(name, path=search) if search else None
    return os.path.abspath(found) if found else None


def _resolve_binary(argv: tuple[str, ...], env: Mapping[str, str], cwd: Path) -> str:
    if not argv or not argv[0]:
        raise PreflightError("binary_missing", "the agent command is empty")
    name = argv[0]
    found = find_binary(name, env, cwd)
    if found is not None:
        return found
    if os.sep in name:
        raise PreflightError("binary_missing", f"{name!r} is not an executable file")
    search = env.get("PATH", "")
    raise PreflightError("binary_missing", f"{name!r} is not on the agent's PATH "
                         f"({search or 'PATH is not set'})")
