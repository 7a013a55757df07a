"""Doctor's sandbox check: what `sandbox:` resolves to on this host (bwrap, or the documented
`none`, never silently), with the daemon's own refusals (bwrap configured but unusable, an
agent's program hidden inside) as failures."""

from __future__ import annotations

from collections.abc import Mapping

from mtor_git.config.model import Config
from mtor_git.config.sandbox import resolve_sandbox
from mtor_git.doctor.run import Check
from mtor_git.errors import ConfigError


def check_sandbox(config: Config, environ: Mapping[str, str]) -> Check:
    try:
        resolved = resolve_sandbox(config, environ)
    except ConfigError as exc:
        return Check("sandbox", "fail", f"{exc} (the daemon refuses to start)",
                     "install bubblewrap, declare the path in sandbox_paths, or set "
                     "sandbox: none")
    if resolved.sandbox.mode == "none":
        return Check("sandbox", "warn", resolved.reason,
                     "agents can read the worker's files and environment; install "
                     "bubblewrap and remove sandbox: none")
    return Check("sandbox", "pass", resolved.reason)
