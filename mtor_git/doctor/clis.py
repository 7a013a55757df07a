"""The settings each agent CLI needs to work unattended, read from the profile and the CLI's own
configuration: Codex's sandbox, home and own retries, aider's flags, and the git identity the
worker gives every agent. Each is a Check; `settings_text` is the one-line summary a probe shows.
"""

from __future__ import annotations

import tempfile
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mtor_git import proc
from mtor_git.agent.identity import identity_env
from mtor_git.agent.profiles import AgentProfile
from mtor_git.agent.spawn import build_env
from mtor_git.doctor.run import Check
from mtor_git.errors import CommandError

BUILTIN_PROVIDERS = ("openai", "oss", "ollama", "lmstudio")
_PROVIDER_HINT = ("in $CODEX_HOME/config.toml set `model_provider = \"NAME\"` and a "
                  "[model_providers.NAME] table (base_url, env_key, wire_api = \"responses\") with "
                  "request_max_retries = 0 and stream_max_retries = 0; built-in providers cannot "
                  "be changed, so define your own even for api.openai.com")


@dataclass(frozen=True)
class CodexSettings:
    sandbox: str  # "read-only (default)" when no flag says otherwise
    home: Path
    provider: str | None  # None when config.toml could not be read
    request_retries: object
    stream_retries: object
    problem: str | None = None  # why config.toml could not be read
    home_set: bool = True  # CODEX_HOME is set (else ~/.codex, private inside the sandbox)


def codex_settings(profile: AgentProfile, environ: Mapping[str, str]) -> CodexSettings:
    env = build_env(profile, environ)
    args = list(profile.command)
    overrides = dict(_split(args[i + 1]) for i, a in enumerate(args[:-1])
                     if a in ("-c", "--config") and "=" in args[i + 1])
    home = Path(env.get("CODEX_HOME") or Path(env.get("HOME", "~")) / ".codex")
    data: dict[str, Any] = {}
    problem = None
    try:
        data = tomllib.loads((home / "config.toml").read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        problem = f"{home / 'config.toml'}: {type(exc).__name__}: {exc}"
    provider = str(overrides.get("model_provider", data.get("model_provider", "openai")))
    table = data.get("model_providers", {}).get(provider, {}) if isinstance(
        data.get("model_providers"), dict) else {}
    table = table if isinstance(table, dict) else {}

    def retries(key: str) -> object:
        return overrides.get(f"model_providers.{provider}.{key}", table.get(key))
    return CodexSettings(_sandbox(args), home, None if problem else provider,
                         retries("request_max_retries"), retries("stream_max_retries"), problem,
                         home_set=bool(env.get("CODEX_HOME")))


def _split(pair: str) -> tuple[str, object]:
    key, _, raw = pair.partition("=")
    try:  # Codex parses the value as TOML, else takes it literally
        value: object = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return key.strip(), value


def _sandbox(args: list[str]) -> str:
    if "--dangerously-bypass-approvals-and-sandbox" in args:
        return "none (bypassed)"
    for i, arg in enumerate(args):
        if arg in ("--sandbox", "-s") and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith("--sandbox="):
            return arg.split("=", 1)[1]
    return "read-only (default)"


def check_cli_settings(profile: AgentProfile, environ: Mapping[str, str]) -> Iterator[Check]:
    if profile.report == "codex-jsonl":
        yield from _codex_checks(profile.name, codex_settings(profile, environ))
    elif profile.report == "aider":
        yield _aider_check(profile, environ)


def _codex_checks(name: str, s: CodexSettings) -> Iterator[Check]:
    if s.sandbox == "workspace-write":
        yield Check(f"codex sandbox {name}", "pass", "--sandbox workspace-write: it writes its "
                    "checkout and nothing else")
    elif s.sandbox.startswith("read-only"):
        yield Check(f"codex sandbox {name}", "fail", f"sandbox {s.sandbox}: Codex refuses every "
                    "write, so each task ends edit_blocked", "add `--sandbox workspace-write` "
                    "to the command (the ready `codex` profile has it)")
    else:
        yield Check(f"codex sandbox {name}", "warn", f"sandbox {s.sandbox}: Codex may write "
                    "outside its checkout", "use `--sandbox workspace-write`")
    if not s.home_set:
        yield Check(f"codex home {name}", "warn", f"CODEX_HOME is not set: Codex uses {s.home}, "
                    "which the attempt sandbox replaces by an empty private home (no provider, "
                    "no login)", "set CODEX_HOME in the daemon's environment; the ready profile "
                    "passes it and shows it writable in the sandbox")
    tmp = Path(tempfile.gettempdir()).resolve()
    if s.home.resolve() == tmp or tmp in s.home.resolve().parents:
        yield Check(f"codex home {name}", "fail", f"CODEX_HOME {s.home} is under the temporary "
                    f"directory {tmp}: Codex then cannot start its sandbox helper and every "
                    "command it runs fails", "set CODEX_HOME to a directory outside it")
    if s.provider is None:
        yield Check(f"codex retries {name}", "warn", f"cannot read the provider: {s.problem}",
                    _PROVIDER_HINT)
    elif s.request_retries == 0 and s.stream_retries == 0:
        yield Check(f"codex retries {name}", "pass", f"provider {s.provider}: "
                    "request_max_retries = 0, stream_max_retries = 0 (our retry policy decides)")
    else:
        fixed = " (a built-in provider: it cannot be changed)" if (
            s.provider in BUILTIN_PROVIDERS) else ""
        yield Check(f"codex retries {name}", "warn", f"provider {s.provider}{fixed}: "
                    f"request_max_retries = {s.request_retries}, stream_max_retries = "
                    f"{s.stream_retries}: Codex retries a 401 five times (~7 s) by itself "
                    "before it reports it", _PROVIDER_HINT)


def _aider_check(profile: AgentProfile, environ: Mapping[str, str]) -> Check:
    args, env = profile.command, build_env(profile, environ)
    missing = [f"{flag} ({why})" for flag, why in (
        ("--no-gitignore", "else aider adds .aider* to the task's .gitignore"),
        ("--yes-always", "else it waits for answers nobody gives"),
    ) if flag not in args]
    if "--model" not in args and not env.get("AIDER_MODEL"):
        missing.append("a model (--model or AIDER_MODEL; else it may wait for a browser login)")
    name = f"aider flags {profile.name}"
    if missing:
        return Check(name, "warn", "missing: " + "; ".join(missing),
                     "start from the ready profile: `extends: aider`")
    return Check(name, "pass", "--no-gitignore, --yes-always and a model are set")


def check_identity(author_name: str, author_email: str, environ: Mapping[str, str],
                   timeout: float = 10.0) -> Check:
    """What `git config --get user.name` answers an agent given the worker's identity: a git
    older than 2.31 ignores GIT_CONFIG_COUNT, and then aider invents one."""
    env = {k: v for k, v in environ.items() if k in ("PATH", "HOME", "LANG")}
    env.update(identity_env(author_name, author_email))
    try:
        answer = proc.run(["git", "config", "--get", "user.name"], env=env, timeout=timeout,
                          check=False).stdout.strip()
    except CommandError as exc:
        return Check("agent identity", "fail", f"git could not be asked: {exc}",
                     "install git on the daemon's PATH")
    if answer != author_name:
        return Check("agent identity", "fail", f"`git config --get user.name` answers "
                     f"{answer or 'nothing'!r} to an agent, not {author_name!r}: this git ignores "
                     "GIT_CONFIG_COUNT", "install git 2.31 or newer")
    return Check("agent identity", "pass", f"agents commit as {author_name} <{author_email}> "
                 "(GIT_AUTHOR_*/GIT_COMMITTER_* and user.name/user.email through GIT_CONFIG_* "
                 "in their environment; no config file is written)")


def settings_text(profile: AgentProfile, environ: Mapping[str, str]) -> str:
    """The settings a probe of this profile ran with, in one line ('' for other CLIs)."""
    if profile.report == "codex-jsonl":
        s = codex_settings(profile, environ)
        return (f"sandbox {s.sandbox}, CODEX_HOME {s.home}, provider {s.provider or '?'} "
                f"(request_max_retries {s.request_retries}, stream_max_retries "
                f"{s.stream_retries})")
    if profile.report == "aider":
        model = build_env(profile, environ).get("AIDER_MODEL") or "from --model"
        flags = [f for f in ("--no-gitignore", "--yes-always") if f in profile.command]
        return f"model {model}, {' '.join(flags) or 'no --no-gitignore/--yes-always'}"
    return ""
