"""Agent profile composition: a profile of the config file extends a ready one (`BUILTIN`) or
stands alone, overrides its keys, and falls back only to a configured profile."""

from __future__ import annotations

import functools
from dataclasses import replace
from typing import Any

from mtor_git.agent.profiles import BUILTIN, PROMPT_MODES, REPORT_FORMATS, AgentProfile
from mtor_git.agent.sandbox import NETWORKS, SandboxPath
from mtor_git.config.budget import parse_budget
from mtor_git.config.expand import referenced_vars
from mtor_git.config.reader import ENV_NAME, NAME, Reader
from mtor_git.spec.yamlload import KeyPath

AGENT_KEYS = ("extends", "command", "prompt", "report", "env", "requires_env", "pass_env",
              "timeout", "fallback", "max_parallel", "max_attempts", "model_args",
              "sandbox_paths", "network", "secret_env", "verify", "fix_rounds",
              "stall_timeout", "max_cli_retry_wait", "max_turns", "max_turns_args",
              "max_cost_args", "resume_args", "budget")
MAX_FIX_ROUNDS = 10


def parse_agents(r: Reader, value: Any) -> dict[str, AgentProfile]:
    if value is None:
        raise r.fail(("agents",), "at least one agent profile is required "
                     f"(ready ones to extend: {', '.join(BUILTIN)})")
    raw_all = r.typed(value, ("agents",), dict, "a mapping of profile name to profile")
    agents: dict[str, AgentProfile] = {}
    for name, raw in raw_all.items():
        if not NAME.fullmatch(str(name)):
            r.note(r.fail(("agents", name), f"{name!r} is not a valid profile name"))
            continue
        profile = r.attempt(functools.partial(_agent, r, name, raw))  # each profile on its own
        if profile is not None:
            agents[name] = profile
    for name, profile in agents.items():
        if profile.fallback == name:
            r.note(r.fail(("agents", name, "fallback"), "a profile cannot fall back to itself"))
        elif (profile.fallback is not None and profile.fallback not in agents
              and profile.fallback not in raw_all):
            r.note(r.fail(("agents", name, "fallback"),
                          f"{profile.fallback!r} is not a configured agent"))
    return agents


def _agent(r: Reader, name: str, value: Any) -> AgentProfile:
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
    # A `${VAR}` in the command line puts a secret in argv: VAR's value is one.
    referenced = [v for key in ("command", "model_args") if isinstance(raw.get(key), list)
                  for item in raw[key] if isinstance(item, str) for v in referenced_vars(item)]
    if "secret_env" in raw or referenced:
        named = r.names(raw["secret_env"], (*where, "secret_env")) if "secret_env" in raw else ()
        changes["secret_env"] = tuple(dict.fromkeys((*base.secret_env, *named, *referenced)))
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
    if "sandbox_paths" in raw:
        changes["sandbox_paths"] = _sandbox_paths(r, raw["sandbox_paths"],
                                                  (*where, "sandbox_paths"))
    if "network" in raw:
        if raw["network"] not in NETWORKS:
            raise r.fail((*where, "network"), "expected host or none")
        changes["network"] = raw["network"]
    changes.update(verify_keys(r, raw, where))
    if "budget" in raw:
        changes["daily_usd"] = parse_budget(r, raw["budget"], (*where, "budget"),
                                            profile=True).daily_usd
    profile = replace(base, **changes)
    profile = _agent_env(r, profile, raw.get("env"), (*where, "env"))
    if not profile.command:
        raise r.fail(where, "command is required (or extends: one of " + ", ".join(BUILTIN) + ")")
    if profile.prompt == "file" and "{prompt_file}" not in profile.command:
        raise r.fail((*where, "command"), "prompt: file needs {prompt_file} in the command")
    return profile


def verify_keys(r: Reader, raw: dict[str, Any], where: KeyPath) -> dict[str, Any]:
    """`verify` (a command or a list; run by `sh -c`, so `${VAR}` is left to the shell) and
    `fix_rounds` (0..10), for a profile or a repository."""
    out: dict[str, Any] = {}
    if "verify" in raw:
        value = raw["verify"]
        items = [value] if isinstance(value, str) else r.typed(value, (*where, "verify"), list,
                                                                "a command or a list of them")
        for index, item in enumerate(items):
            if not isinstance(item, str) or not item.strip() or "\n" in item.strip():
                raise r.fail((*where, "verify", index), "expected one command on one line")
        out["verify"] = tuple(item.strip() for item in items)
    if "fix_rounds" in raw:
        rounds = r.count(raw["fix_rounds"], (*where, "fix_rounds"), minimum=0)
        if rounds > MAX_FIX_ROUNDS:
            raise r.fail((*where, "fix_rounds"), f"must be at most {MAX_FIX_ROUNDS}")
        out["fix_rounds"] = rounds
    return out


def _sandbox_paths(r: Reader, value: Any, where: KeyPath) -> tuple[SandboxPath, ...]:
    """Each item a path (read-only) or `{path: P, mode: ro|rw}`; `~` and `${VAR}` expanded."""
    items = r.typed(value, where, list, "a list of paths")
    out: list[SandboxPath] = []
    for index, item in enumerate(items):
        at: KeyPath = (*where, index)
        if isinstance(item, dict):
            raw = r.mapping(item, at, ("path", "mode"))
            if "path" not in raw:
                raise r.fail(at, "path is required")
            mode = raw.get("mode", "ro")
            if mode not in ("ro", "rw"):
                raise r.fail((*at, "mode"), "expected ro or rw")
            out.append(SandboxPath(r.path(raw["path"], (*at, "path")), writable=mode == "rw"))
        else:
            out.append(SandboxPath(r.path(item, at)))
    return tuple(out)


def _command(r: Reader, value: Any, where: KeyPath, *, empty: bool = False) -> tuple[str, ...]:
    if isinstance(value, str):
        raise r.fail(where, "must be a list of arguments, never a shell string "
                     "(e.g. [claude, -p, --output-format, json])")
    items = r.typed(value, where, list, "a list of arguments")
    if not items and not empty:
        raise r.fail(where, "must not be empty")
    return tuple(r.text(item if not isinstance(item, int | float) or isinstance(item, bool)
                        else str(item), (*where, i)) for i, item in enumerate(items))


def _agent_env(r: Reader, profile: AgentProfile, value: Any, where: KeyPath) -> AgentProfile:
    if value is None:
        return profile
    raw = r.typed(value, where, dict, "a mapping of variable name to value")
    env = dict(profile.env)
    secret = list(profile.secret_env)
    for key, item in raw.items():
        if not ENV_NAME.fullmatch(str(key)):
            raise r.fail((*where, key), f"{key!r} is not an environment variable name")
        text = str(item) if isinstance(item, int | float) and not isinstance(item, bool) else item
        env[key] = r.text(text, (*where, key))
        if isinstance(text, str) and referenced_vars(text):
            # Its value came from the daemon's environment: the whole value is a secret, and so
            # is each variable it was built from (`Bearer ${TOKEN}`: TOKEN alone too). A value
            # written literally (`AIDER_MODEL: gpt-4o`) is configuration, not a secret.
            secret.append(key)
            secret.extend(referenced_vars(text))
    return replace(profile, env=env, secret_env=tuple(dict.fromkeys(secret)))
