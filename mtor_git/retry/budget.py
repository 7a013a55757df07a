"""The attempt budget of one run, the one place its rule is written: the smallest of the policy's,
the task's and the profile's cap, less what earlier hand-backs of the same run spent (attempts a
shutdown or a cancel cut short do not count). The cost cap likewise."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from mtor_git.agent.evidence import Failure
from mtor_git.agent.profiles import AgentProfile
from mtor_git.attempts import AttemptRecord
from mtor_git.retry.policy import RetryPolicy
from mtor_git.states import TaskStatus

# Attempts that stopped for the worker's sake (or the user's), not the task's: they spend nothing.
UNCOUNTED_KINDS = ("interrupted", "cancelled")


@dataclass(frozen=True)
class Budget:
    """The task's own caps (None: none of its own) and what earlier runs spent of them."""

    max_attempts: int | None = None
    max_cost_usd: float | None = None
    max_turns: int | None = None  # the task's turn cap (spec or worker), over all attempts
    spent_attempts: int = 0
    spent_cost_usd: float = 0.0

    @classmethod
    def after(cls, carried: Iterable[AttemptRecord], *, max_attempts: int | None,
              max_cost_usd: float | None, max_turns: int | None = None) -> Budget:
        """The budget left once the `carried` attempts of earlier hand-backs are paid for."""
        counted = [a for a in carried if a.kind not in UNCOUNTED_KINDS]
        cost = sum(a.cost_usd or 0 for a in counted)
        return cls(max_attempts=max_attempts, max_cost_usd=max_cost_usd, max_turns=max_turns,
                   spent_attempts=len(counted), spent_cost_usd=cost)

    def attempts_left(self, policy: RetryPolicy, profile: AgentProfile) -> int:
        """May be zero or less: earlier runs spent it all."""
        caps = [policy.max_attempts, self.max_attempts, profile.max_attempts]
        return min(c for c in caps if c is not None) - self.spent_attempts

    def turns_cap(self, profile: AgentProfile) -> int | None:
        """The smallest of the task's and the profile's turn caps; None when neither has one."""
        caps = [c for c in (self.max_turns, profile.max_turns) if c is not None]
        return min(caps) if caps else None

    def spent_before(self, policy: RetryPolicy,
                     profile: AgentProfile) -> tuple[TaskStatus, Failure] | None:
        """How the run ends before it starts when earlier hand-backs of it spent it all."""
        if self.attempts_left(policy, profile) <= 0:
            return TaskStatus.EXHAUSTED, Failure(
                "attempt_budget", "the attempt budget was spent by earlier runs of this task "
                "that were handed back")
        dollars = self.cost_left()
        if dollars is not None and dollars <= 0:
            return TaskStatus.FAILED, Failure(
                "budget_exceeded", "the cost cap was spent by earlier runs of this task that "
                "were handed back", rule="max_cost_usd")
        return None

    def cost_left(self) -> float | None:
        """Dollars left under the task's cap; None when it has none."""
        return None if self.max_cost_usd is None else self.max_cost_usd - self.spent_cost_usd
