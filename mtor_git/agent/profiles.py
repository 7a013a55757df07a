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
ReportFormat = Literal["claude-json", "claude-stream-json", "codex-jsonl", "aider", "text"]
PROMPT_MODES: tuple[str, ...] = ("stdin", "file")
REPORT_FORMATS: tuple[str, ...] = ("claude-json", "claude-stream-json", "codex-jsonl", "aider",
                                   "text")
DEFAULT_STALL_TIMEOUT = 600.0
RESUME_ARGS_TOKEN = "{resume_args}"
CAP_ARGS_TOKEN = "{cap_args}"

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
    # Live limits (agent/live.py): no output, event or checkout change for this long stops the
    # attempt as `stalled` (None: never); the CLI's own retries may wait this long in all.
    stall_timeout: float | None = DEFAULT_STALL_TIMEOUT
    max_cli_retry_wait: float | None = None
    max_turns: int | None = None  # the profile's turn cap; a spec's smaller one wins
    # The CLI's own caps, a second line of defence, placed at "{cap_args}" (else appended) when
    # a cap is set: "{max_turns}" and "{max_cost_usd}" inside are replaced by the caps.
    max_turns_args: tuple[str, ...] = ()
    max_cost_args: tuple[str, ...] = ()
    # How to continue a CLI session after a transient fault, placed at "{resume_args}" (else
    # appended); "{session_id}" is replaced by the session the failed attempt reported.
    resume_args: tuple[str, ...] = ()
    # The profile's daily spend cap (config `budget: {daily_usd: N}`): a task with this profile
    # that would start once the day's reported cost reached it is deferred (worker/ledger.py).
    daily_usd: float | None = None


# Ready profiles; a config entry `extends: <name>` starts from one of these.
BUILTIN: dict[str, AgentProfile] = {
    "claude": AgentProfile(
        name="claude",
        command=("claude", "-p", "--output-format", "stream-json", "--verbose",
                 "--permission-mode", "acceptEdits"),
        prompt="stdin",
        report="claude-stream-json",
        # Claude Code retries on its own; with stream-json each retry is an `api_retry` event
        # seen live: a terminal one stops the attempt at once, transient ones stay inside the
        # session, bounded by max_cli_retry_wait (measured: README, "The CLI's own retries").
        env={"DISABLE_AUTOUPDATER": "1", "DISABLE_TELEMETRY": "1",
             "DISABLE_ERROR_REPORTING": "1"},
        max_cli_retry_wait=300.0,
        max_turns_args=("--max-turns", "{max_turns}"),
        max_cost_args=("--max-budget-usd", "{max_cost_usd}"),
        resume_args=("--resume", "{session_id}"),
        pass_env=("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL",
                  "CLAUDE_CONFIG_DIR", "API_TIMEOUT_MS"),
        model_args=("--model", "{model}"),
    ),
    "codex": AgentProfile(
        name="codex",
        # Its default sandbox is read-only: every write is refused (measured, 0.171), and each task
        # runs in a new checkout, so per-project trust cannot help. `workspace-write` lets it
        # write its checkout and nothing else. No `--ephemeral`: its session file (a rollout under
        # $CODEX_HOME/sessions, ~40 KB for a two-request task, measured 0.171) is what `exec
        # resume <thread id>` continues; the exec flags before `resume` apply to it (measured).
        command=("codex", "exec", "--json", "--skip-git-repo-check", "--sandbox",
                 "workspace-write", "{model_args}", "{resume_args}", "-"),
        prompt="stdin",
        report="codex-jsonl",
        # A write its sandbox blocks is otherwise silent (not in --json, not on stderr); this
        # level prints it, so that the refusal is evidence (agent/refusals.py). Its own retries
        # are set in $CODEX_HOME/config.toml (README, `doctor`): the built-in provider's cannot be.
        env={"RUST_LOG": "error,codex_sandboxing=warn"},
        pass_env=("OPENAI_API_KEY", "CODEX_HOME"),
        state_env=("CODEX_HOME",),
        model_args=("-m", "{model}"),
        resume_args=("resume", "{session_id}"),
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
