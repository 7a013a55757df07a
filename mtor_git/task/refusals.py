"""Why a claimed task is rejected before its agent runs, as the result's failure: the spec names a
profile or a model this worker cannot run, or the spec has problems (listed, bounded)."""

from __future__ import annotations

from mtor_git.agent.evidence import Failure
from mtor_git.config.model import Config
from mtor_git.errors import Problem
from mtor_git.spec.parse import Spec


def profile_refusal(spec: Spec, config: Config) -> Failure | None:
    """Why this worker cannot run `spec` as written (unknown profile, unsupported model)."""
    agent = spec.agent or config.default_agent
    if agent not in config.agents:
        return Failure("unknown_agent", f"{spec.path}: agent {agent!r} is not configured on "
                       f"worker {config.worker_id} (configured: {', '.join(config.agents)})")
    if spec.model and not config.agents[agent].model_args:
        return Failure("model_unsupported", f"{spec.path}: model {spec.model!r} was asked for, "
                       f"but profile {agent!r} has no model_args to pass it")
    return None


def problems_text(problems: tuple[Problem, ...], limit: int = 20) -> str:
    """The first `limit` problems: a spec of 3,000 unknown keys must not become a result (and a
    pull-request body) of 300 KB; `mtor-git validate` lists them all."""
    shown = "; ".join(str(p) for p in problems[:limit])
    more = len(problems) - limit
    return f"{shown}; and {more} more (see `mtor-git validate`)" if more > 0 else shown
