"""The attempt loop's values: what it is asked to run (ExecuteRequest) and how it ended
(Execution, with the Usage totals over every attempt). `retry.loop.execute` turns one into the
other."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mtor_git.agent.evidence import Attempt, Failure
from mtor_git.agent.profiles import AgentProfile
from mtor_git.agent.progress import ProgressSink
from mtor_git.agent.sandbox import NO_SANDBOX, Sandbox
from mtor_git.retry.budget import Budget
from mtor_git.retry.policy import BreakerBoard, RetryPolicy
from mtor_git.states import TaskStatus


@dataclass(frozen=True)
class Usage:
    """Totals over every attempt; None where no attempt reported the figure."""

    turns: int | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float | None = None

    @classmethod
    def of(cls, attempts: tuple[Attempt, ...]) -> Usage:
        def total(values: list[Any]) -> Any:
            present = [v for v in values if v is not None]
            return sum(present) if present else None

        reports = [a.report for a in attempts]
        return cls(turns=total([r.num_turns for r in reports]),
                   input_tokens=total([r.usage.get("input_tokens") for r in reports]),
                   output_tokens=total([r.usage.get("output_tokens") for r in reports]),
                   cost_usd=total([r.cost_usd for r in reports]))

    def to_json(self) -> dict[str, Any]:
        return {"turns": self.turns, "input_tokens": self.input_tokens,
                "output_tokens": self.output_tokens, "cost_usd": self.cost_usd}


@dataclass(frozen=True)
class Execution:
    """How one task's attempts ended."""

    status: TaskStatus
    attempts: tuple[Attempt, ...] = ()
    failure: Failure | None = None
    resume_at: float | None = None
    model_invoked: bool | None = None
    usage: Usage = field(default_factory=Usage)

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status, "model_invoked": self.model_invoked,
                "resume_at": self.resume_at, "usage": self.usage.to_json(),
                "failure": self.failure.to_json() if self.failure else None,
                "attempts": [a.to_json() for a in self.attempts]}


@dataclass(frozen=True)
class ExecuteRequest:
    """What one task's attempt loop runs: the prompt, the profile chain (`profile_name` and the
    profiles its fallbacks come from), where, under which policy and budget, and the signals that
    stop it. `timeout` (the spec's) is capped by the profile's."""

    prompt: str
    profile_name: str
    profiles: Mapping[str, AgentProfile]
    cwd: Path
    policy: RetryPolicy
    environ: Mapping[str, str]
    breakers: BreakerBoard
    model: str | None = None
    timeout: float | None = None
    budget: Budget = field(default_factory=Budget)
    cancel: threading.Event | None = None
    shutdown: threading.Event | None = None
    # A usage limit that resets later than this (seconds) parks the task instead of waiting.
    park_limit: float = 3600.0
    sandbox: Sandbox = NO_SANDBOX
    # Shown read-only in the sandbox: what the worker knows the checkout needs (the objects its
    # git borrows), never what the checkout's own files claim.
    ro_paths: tuple[Path, ...] = ()
    # A session the first attempt continues (a verify fix round: the round before's; a
    # follow-up: its target's), when the profile has resume_args; its prompt says why.
    resume: str | None = None
    # Readings of the running agent (agent/progress.py), each with its attempt number added.
    progress: ProgressSink | None = None
