"""The worker's configuration as values: one frozen dataclass per section of the YAML file.
Adding a key: a field here (with its default), its parsing in `config/load.py` (or
`config/agents.py` for an agent profile key)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from mtor_git.agent.profiles import AgentProfile
from mtor_git.agent.sandbox import SandboxMode
from mtor_git.config.budget import DailyBudget
from mtor_git.retry.policy import RetryPolicy


@dataclass(frozen=True)
class RepoConfig:
    url: str
    branch: str = "main"
    tasks_dir: str = "tasks"
    name: str = ""  # folder name in the workspace, derived from the URL
    ssh_key: Path | None = None  # else the ssh agent's keys
    username: str | None = None  # https (or ssh, when the URL names no user)
    token: str | None = field(default=None, repr=False)  # https token, from `token_env`
    # Default checks (and fix rounds) for this repository's tasks that name none (task/verify.py).
    verify: tuple[str, ...] = ()
    fix_rounds: int | None = None

    @property
    def slug(self) -> str:
        return self.name


FORGES = ("github", "gitlab", "gitea", "command")


@dataclass(frozen=True)
class PullRequestConfig:
    """How the worker proposes a result as a (draft) pull request on the forge.

    `github` runs `gh`, `gitlab` runs `glab`, `gitea` runs `tea`; `command` runs the argv
    templates given (`{head} {base} {title} {body_file} {repo} {draft}`; the update template
    also `{pr}`, what the open command printed)."""

    forge: str
    command: tuple[str, ...] = ()
    comment_command: tuple[str, ...] = ()
    draft: bool = True
    reviewers: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    repo: str | None = None  # the forge's name of the repository; default: from the URL


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
    pull_request: PullRequestConfig | None = None
    # A spec naming a profile this worker lacks: "reject" it (one worker, a typo must not wait
    # forever) or "skip" it, leaving it to another worker of a mixed fleet.
    unknown_agents: str = "reject"
    require_signed: bool = False
    allowed_signers: Path | None = None
    author_name: str = "mtor-git"
    author_email: str = "mtor-git@localhost"
    max_spec_bytes: int = 256 * 1024
    # How often cron (or a timer) runs `daemon --once`: doctor then judges the last cycle against
    # it instead of expecting a running daemon. None: unknown (doctor only reports the last cycle).
    schedule: float | None = None
    # The systemd EnvironmentFile the service runs with: every value in it is a secret.
    env_file: Path | None = None
    # `bwrap` or `none`; None when not configured: bwrap where it runs, else `none`, logged.
    sandbox: SandboxMode | None = None
    # What an agent may add in one run: any one file, and all new content (its commits too).
    max_file_bytes: int = 10 << 20
    max_change_bytes: int = 100 << 20
    # A remote silent this long (connect, or between two reads) fails that repository's sync.
    transfer_timeout: float = 30.0
    max_turns: int | None = None  # the worker's turn cap per task; a spec's smaller one wins
    # The worker's daily spend cap and the UTC hour its day (and every profile's) begins.
    budget: DailyBudget = field(default_factory=DailyBudget)

    @property
    def heartbeat(self) -> float:
        """Claims are renewed three times per lease, so one slow renewal never loses a claim."""
        return max(self.claim_lease / 3.0, 0.5)
