"""Doctor's secrets check: which variables every run guards as secrets (redacted, refused in a
diff), and a warning for a value of the env file an agent receives that is guarded nowhere (a
`RELEASE_HANDLE` passed with `pass_env` while the config names no `env_file`)."""

from __future__ import annotations

from mtor_git.agent.redact import secrets_from
from mtor_git.agent.spawn import build_env
from mtor_git.config.model import Config
from mtor_git.doctor.run import Check, DaemonEnv


def check_secrets(config: Config, env: DaemonEnv) -> Check:
    guarded: dict[str, set[str]] = {}
    exposed: dict[str, set[str]] = {}  # env-file names an agent gets, unguarded -> profiles
    file_values = env.env_file.values if env.env_file is not None else {}
    for name, profile in config.agents.items():
        secrets = secrets_from(profile, env.values)
        for var in secrets:
            guarded.setdefault(var, set()).add(name)
        given = build_env(profile, env.values)
        for var, value in given.items():
            if var in file_values and var not in secrets and value not in secrets.values():
                exposed.setdefault(var, set()).add(name)
    shown = ", ".join(sorted(guarded)) or "none"
    detail = f"values guarded as secrets (redacted, refused in a diff): {shown}"
    if exposed:
        names = "; ".join(f"{var} (agent {', '.join(sorted(p))})" for var, p in
                          sorted(exposed.items()))
        source = env.env_file.path if env.env_file is not None else "the env file"
        return Check("secrets", "warn", f"{detail}. From {source}, agents get values no rule "
                     f"marks secret: {names}",
                     f"add `env_file: {source}` to the config (every value of the file is then "
                     "a secret), or name them in the profile's secret_env")
    return Check("secrets", "pass", detail)
