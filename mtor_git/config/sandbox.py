"""The worker's sandbox setting resolved against this host: `sandbox: bwrap` that cannot run refuses
to start (ConfigError, exit 78); no setting means bwrap where it runs, else the documented `none`,
which the caller logs loudly. Never a silent downgrade."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from mtor_git import proc
from mtor_git.agent.sandbox import Sandbox, find_bwrap, hidden_program, plan, worker_hides
from mtor_git.agent.spawn import build_env, find_binary
from mtor_git.config.model import Config
from mtor_git.errors import CommandError, ConfigError

# The shape of an attempt's sandbox, on a command that does nothing: user namespaces refused
# (a container, `RestrictNamespaces=`) fail here, at start, rather than in every attempt.
_PROBE = ("--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--unshare-pid",
          "--unshare-ipc", "--die-with-parent", "--new-session", "--cap-drop", "ALL", "--", "true")


@dataclass(frozen=True)
class Resolved:
    """The sandbox attempts get, and why (a line for the start-up log and for doctor)."""

    sandbox: Sandbox
    reason: str
    explicit: bool  # configured, rather than the default


def resolve_sandbox(config: Config, environ: Mapping[str, str]) -> Resolved:
    source = f"{config.path}: sandbox" if config.path else "sandbox"
    if config.sandbox == "none":
        return Resolved(Sandbox("none"), "sandbox: none is configured: agents run with the "
                        "worker's own rights and see its files", explicit=True)
    bwrap = find_bwrap(environ)
    problem = "bwrap is not on PATH (package bubblewrap)" if bwrap is None else probe(bwrap)
    if problem is not None:
        if config.sandbox == "bwrap":
            raise ConfigError(f"{source}: bwrap is configured but cannot run: {problem}; "
                              "install bubblewrap (and allow user namespaces), or set "
                              "sandbox: none")
        return Resolved(Sandbox("none"), f"NO SANDBOX: {problem}; agents run as `sandbox: "
                        "none` (with the worker's own rights); install bubblewrap, or set "
                        "sandbox: none to say so", explicit=False)
    assert bwrap is not None
    hide = worker_hides(config.workspace, config.state_dir, config.runtime_dir, config.path,
                        config.log.file, config.log.json_file, config.allowed_signers,
                        config.env_file, *(repo.ssh_key for repo in config.repos))
    sandbox = Sandbox("bwrap", bwrap, hide=hide, scratch=config.workspace / ".attempts")
    _check_programs(config, sandbox, environ)
    return Resolved(sandbox, f"sandbox: bwrap ({bwrap}): each attempt sees its checkout, a "
                    "private HOME and /tmp, its profile's sandbox_paths and the system "
                    "read-only", explicit=config.sandbox == "bwrap")


def _check_programs(config: Config, sandbox: Sandbox, environ: Mapping[str, str]) -> None:
    """Refuse to start when an agent's binary or its interpreter would be hidden inside: every
    task would fail its preflight otherwise."""
    for name, profile in config.agents.items():
        env = build_env(profile, environ)
        binary = profile.command[0]
        found = find_binary(binary, env)
        if found is None or (os.sep in binary and not os.path.isabs(binary)):
            continue  # check_runnable names a missing one; a relative one lives in the checkout
        box = plan(sandbox, cwd=config.workspace, paths=profile.sandbox_paths,
                   network=profile.network, environ=environ)
        problem = hidden_program(box, found, env)
        if problem is not None:
            raise ConfigError(f"agent {name!r}: {problem}; add its installation directory to "
                              f"agents.{name}.sandbox_paths")


def probe(bwrap: str) -> str | None:
    """None when bwrap can build an attempt's sandbox here, else why not (its own words)."""
    try:
        proc.run([bwrap, *_PROBE], env={"PATH": "/usr/bin:/bin"}, timeout=10)
    except CommandError as exc:
        return f"{bwrap} fails: {(exc.stderr or str(exc)).strip()[:200]}"
    return None
