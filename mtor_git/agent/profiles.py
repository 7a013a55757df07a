"""Agent profiles: how to start one agent CLI and read its output. Specs name a profile by name;
only the worker's configuration says which command it runs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from mtor_git.agent.sandbox import Network, SandboxPath

# "none": no prompt at all, stdin closed (the worker's own commands, e.g. `verify:`; not a
# configurable agent mode).
PromptMode = Literal["stdin", "file", "none"]
ReportFormat = Literal["claude-json", "codex-jsonl", "aider", "text"]
PROMPT_MODES: tuple[str, ...] = ("stdin", "file")
REPORT_FORMATS: tuple[str, ...] = ("claude-json", "codex-jsonl", "aider", "text")

# Passed from the daemon's own environment to every agent; anything else must be named.
BASE_PASS_ENV: tuple[str, ...] = (
    "PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR",
    "SSL_CERT_FILE", "SSL_CERT_DIR", "HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY",
)


@dataclass(frozen=True)
class AgentProfile:
    """One configured agent. `env` values are already expanded (they may hold secrets)."""

    name: str
    command: tuple[str, ...]
    prompt: PromptMode = "stdin"
    report: ReportFormat = "text"
    env: Mapping[str, str] = field(default_factory=dict)
    requires_env: tuple[str, ...] = ()
    pass_env: tuple[str, ...] = ()
    timeout: float | None = None
    fallback: str | None = None
    max_parallel: int | None = None
    # Attempt budget for every task run with this profile; the smallest of the retry policy's,
    # the spec's and this one wins.
    max_attempts: int | None = None
    # Inserted where the command has the token "{model_args}" (else appended) when a spec names a
    # model; "{model}" inside is replaced by the model name.
    model_args: tuple[str, ...] = ()
    # Environment names whose values are secrets (redacted everywhere, refused in a diff): the
    # config's `secret_env`, every `env` entry whose value came from `${VAR}` and the names it
    # referenced, and the worker's own (`token_env`, `env_file`); see agent/redact.py.
    secret_env: tuple[str, ...] = ()
    # Secrets held in no variable (a password written in a repository URL): label -> value.
    secret_values: Mapping[str, str] = field(default_factory=dict)
    # What the sandbox shows this agent beyond its checkout (its CLI's login state, a toolchain
    # under a home), read-only unless marked writable; `none` gives it loopback only.
    sandbox_paths: tuple[SandboxPath, ...] = ()
    network: Network = "host"
    # Checks run after the agent (task/verify.py) when the spec names none, and their fix rounds.
    verify: tuple[str, ...] = ()
    fix_rounds: int | None = None
    # Files the CLI drops in its checkout (caches, chat logs): the worker writes them into the
    # checkout's .git/info/exclude, so that they are never committed as the task's changes.
    excludes: tuple[str, ...] = ()
    # Variables naming the CLI's own state directory (its config, login and session database),
    # shown writable in the attempt sandbox when set: Codex cannot start with CODEX_HOME read-only.
    state_env: tuple[str, ...] = ()
    # The profile's daily spend cap (config `budget: {daily_usd: N}`): a task with this profile
    # that would start once the day's reported cost reached it is deferred (worker/ledger.py).
    daily_usd: float | None = None


# Ready profiles; a config entry `extends: <name>` starts from one of these.
BUILTIN: dict[str, AgentProfile] = {
    "claude": AgentProfile(
        name="claude",
        command=("claude", "-p", "--output-format", "json", "--permission-mode", "acceptEdits"),
        prompt="stdin",
        report="claude-json",
        # Claude Code retries a 429 (and a 401) ten times over minutes on its own, and obeys a
        # Retry-After of up to ~40 s inside one attempt without reporting it: switch its retries
        # off so that our classifier sees each fault and our budget alone governs retries.
        env={"CLAUDE_CODE_MAX_RETRIES": "0", "DISABLE_AUTOUPDATER": "1",
             "DISABLE_TELEMETRY": "1", "DISABLE_ERROR_REPORTING": "1"},
        pass_env=("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL",
                  "CLAUDE_CONFIG_DIR", "API_TIMEOUT_MS"),
        model_args=("--model", "{model}"),
    ),
    "codex": AgentProfile(
        name="codex",
        # Its default sandbox is read-only: every write is refused (measured, 0.171), and each task
        # runs in a new checkout, so per-project trust cannot help. `workspace-write` lets it
        # write its checkout and nothing else; `--ephemeral` keeps no session file per task.
        command=("codex", "exec", "--json", "--skip-git-repo-check", "--sandbox",
                 "workspace-write", "--ephemeral", "{model_args}", "-"),
        prompt="stdin",
        report="codex-jsonl",
        # A write its sandbox blocks is otherwise silent (not in --json, not on stderr); this
        # level prints it, so that the refusal is evidence (agent/refusals.py). Its own retries
        # are set in $CODEX_HOME/config.toml (README, `doctor`): the built-in provider's cannot be.
        env={"RUST_LOG": "error,codex_sandboxing=warn"},
        pass_env=("OPENAI_API_KEY", "CODEX_HOME"),
        state_env=("CODEX_HOME",),
        model_args=("-m", "{model}"),
    ),
    "aider": AgentProfile(
        name="aider",
        # --no-gitignore: aider otherwise adds `.aider*` (and `.env`) to the task's .gitignore.
        command=("aider", "--message-file", "{prompt_file}", "--yes-always", "--no-check-update",
                 "--analytics-disable", "--no-pretty", "--no-stream", "--no-show-model-warnings",
                 "--no-gitignore"),
        prompt="file",
        report="aider",
        excludes=(".aider*",),
        pass_env=("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "OPENROUTER_API_KEY",
                  "AIDER_MODEL", "OPENAI_API_BASE"),
        model_args=("--model", "{model}"),
    ),
}
