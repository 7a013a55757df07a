"""The attempt loop end to end with real fake-agent processes: retry only what is transient,
within the budget, the cost cap and the breakers; stop on signals; never raise."""

from __future__ import annotations

import json
import random
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from runner_fixtures import base_environ, fake_profile, fake_state, git_worktree

from mtor_git.agent.evidence import Attempt, Classification
from mtor_git.agent.profiles import AgentProfile
from mtor_git.retry.budget import Budget
from mtor_git.retry.loop import ExecuteRequest, Execution, execute
from mtor_git.retry.policy import BreakerBoard, RetryPolicy

SECRET = "glm-secret-token-0123456789"
# Fast fakes answer in milliseconds: no floor on a model call, tiny backoffs.
FAST = RetryPolicy(max_attempts=4, initial_backoff=0.05, max_backoff=0.2, min_model_call=0.0,
                   min_spacing=0.0, breaker_threshold=10, breaker_cooldown=1.0)
# Trips after two provider faults in a row.
TWITCHY = RetryPolicy(min_model_call=0.0, breaker_threshold=2, breaker_cooldown=1.0)


@pytest.fixture
def wt(tmp_path: Path) -> Path:
    return git_worktree(tmp_path / "wt")


class Recorder:
    """An injected sleep that records and returns at once (the loop's waits, without waiting)."""

    def __init__(self) -> None:
        self.sleeps: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.sleeps.append(seconds)


def run(wt: Path, *profiles: AgentProfile, policy: RetryPolicy = FAST,
        environ: dict[str, str] | None = None, max_attempts: int | None = None,
        max_cost_usd: float | None = None, **kw: Any) -> Execution:
    fields: dict[str, Any] = {
        "prompt": "---\ntitle: x\n---\nGuard against spanned cells.\n",
        "profile_name": profiles[0].name, "profiles": {p.name: p for p in profiles},
        "cwd": wt, "policy": policy, "environ": environ or base_environ(),
        "breakers": BreakerBoard(policy), "timeout": 30.0}
    loop: dict[str, Any] = {"sleep": Recorder(), "rng": random.Random(7)}
    for key, value in kw.items():
        (loop if key in ("sleep", "clock", "rng", "on_attempt") else fields)[key] = value
    budget = Budget(max_attempts=max_attempts, max_cost_usd=max_cost_usd)
    return execute(ExecuteRequest(**fields, budget=budget), **loop)


def kinds(execution: Execution) -> list[str]:
    return [a.classification.kind for a in execution.attempts]


# --- terminal faults: exactly one attempt ----------------------------------------------------

def test_positional_frontmatter_is_a_usage_error_after_exactly_one_attempt(wt: Path) -> None:
    sleep = Recorder()
    result = run(wt, fake_profile("success", "---\ntitle: x"), sleep=sleep)
    assert (result.status, kinds(result)) == ("failed", ["usage_error"])
    assert result.failure is not None and result.failure.kind == "usage_error"
    assert sleep.sleeps == []


def test_empty_output_with_nonzero_exit_fails_after_exactly_one_attempt(wt: Path) -> None:
    sleep = Recorder()
    result = run(wt, fake_profile("silent-fail"), sleep=sleep)
    assert (result.status, kinds(result)) == ("failed", ["empty_failure"])
    assert fake_state(wt, "calls").read_text() == "1"
    assert sleep.sleeps == []


def test_auth_failure_is_not_retried(wt: Path) -> None:
    result = run(wt, fake_profile("401"))
    assert (result.status, kinds(result)) == ("failed", ["auth"])


def test_exit_zero_with_permission_denials_is_not_success(wt: Path) -> None:
    result = run(wt, fake_profile("denied"))
    assert (result.status, kinds(result)) == ("failed", ["edit_blocked"])
    assert result.model_invoked is True


def test_a_too_fast_failure_is_a_pipeline_fault(wt: Path) -> None:
    # Overload text, but no structured report (a text profile): faster than any model call.
    slow_floor = RetryPolicy(max_attempts=4, initial_backoff=0.05, min_model_call=30.0)
    result = run(wt, fake_profile("529", report="text"), policy=slow_floor)
    assert (result.status, kinds(result)) == ("failed", ["pipeline_fault"])


def test_a_fast_structured_overload_report_is_transient(wt: Path) -> None:
    # Claude reports a 529 with api_error_status null: its own JSON error is the evidence.
    slow_floor = RetryPolicy(max_attempts=2, initial_backoff=0.05, min_model_call=30.0)
    result = run(wt, fake_profile("529"), policy=slow_floor)
    assert (result.status, kinds(result)) == ("exhausted", ["overloaded", "overloaded"])


def test_hang_is_killed_at_the_profile_timeout_and_not_retried(wt: Path) -> None:
    result = run(wt, fake_profile("hang", timeout=1.0), timeout=600.0)
    assert (result.status, kinds(result)) == ("failed", ["timeout"])
    attempt = result.attempts[0]
    assert attempt.run.stopped_by == "timeout" and attempt.run.duration < 600
    pids = [int(p) for p in fake_state(wt, "pids").read_text().split()]
    assert [p for p in pids if Path(f"/proc/{p}").exists()
            and Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"] == []


def test_preflight_failure_runs_nothing_and_says_the_model_was_not_invoked(wt: Path) -> None:
    profile = fake_profile("success", requires_env=("GLM_TOKEN",))
    result = run(wt, profile)
    assert result.status == "failed" and result.attempts == ()
    assert result.failure is not None and result.failure.kind == "missing_env"
    assert result.model_invoked is False
    assert not fake_state(wt, "calls").exists()


def test_unknown_agent_is_a_preflight_failure(wt: Path) -> None:
    result = run(wt, fake_profile("success"), profile_name="nope")
    assert result.failure is not None and result.failure.kind == "unknown_agent"


# --- transient faults: retried within the budget ---------------------------------------------

def test_rate_limit_then_success_succeeds_on_attempt_two_after_a_backoff(wt: Path) -> None:
    sleep = Recorder()
    result = run(wt, fake_profile("429-then-success"), sleep=sleep)
    assert (result.status, kinds(result)) == ("succeeded", ["rate_limited", "succeeded"])
    assert len(sleep.sleeps) == 1 and 0 < sleep.sleeps[0] <= FAST.max_backoff
    assert result.attempts[1].waited_before == sleep.sleeps[0]
    assert (wt / "AGENT_EDIT.md").exists()
    assert result.model_invoked is True
    assert (result.usage.turns, result.usage.cost_usd) == (2, 0.01)


def test_overloaded_every_time_is_exhausted_within_the_budget(wt: Path) -> None:
    sleep = Recorder()
    result = run(wt, fake_profile("529"), sleep=sleep, max_attempts=3)
    assert result.status == "exhausted"
    assert kinds(result) == ["overloaded"] * 3
    assert len(sleep.sleeps) == 2
    assert result.failure is not None and result.failure.kind == "overloaded"


def test_spec_max_attempts_is_capped_by_the_policy(wt: Path) -> None:
    result = run(wt, fake_profile("529"), max_attempts=50)
    assert len(result.attempts) == FAST.max_attempts


def test_same_server_error_twice_stops_and_never_uses_the_fallback(wt: Path) -> None:
    primary = fake_profile("500", name="primary", fallback="backup")
    result = run(wt, primary, fake_profile("success", name="backup"))
    assert kinds(result) == ["provider_error", "repeated_failure"]
    assert [a.profile for a in result.attempts] == ["primary", "primary"]
    assert result.status == "failed"


def test_fallback_profile_runs_after_a_rate_limit(wt: Path) -> None:
    primary = fake_profile("429-then-success", "--fails", "99", name="primary",
                           fallback="backup")
    result = run(wt, primary, fake_profile("success", name="backup"))
    assert result.status == "succeeded"
    assert [a.profile for a in result.attempts] == ["primary", "backup"]


def test_cost_cap_stops_retries(wt: Path) -> None:
    result = run(wt, fake_profile("529", "--cost", "0.6"), max_cost_usd=1.0)
    assert len(result.attempts) == 2 and result.status == "failed"
    assert result.failure is not None and result.failure.kind == "budget_exceeded"


def test_min_spacing_between_launches(wt: Path) -> None:
    now = [1000.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    spaced = RetryPolicy(initial_backoff=0.0, max_backoff=0.0, min_model_call=0.0,
                         min_spacing=30.0)
    result = run(wt, fake_profile("429-then-success"), policy=spaced, sleep=sleep,
                 clock=lambda: now[0])
    assert result.status == "succeeded"
    assert result.attempts[1].waited_before == 30.0


def test_usage_limit_far_away_parks_the_task(wt: Path) -> None:
    reset = int(time.time()) + 7200
    result = run(wt, fake_profile("usage-limit", "--reset", str(reset)), park_limit=3600)
    assert (result.status, kinds(result)) == ("parked", ["usage_limit"])
    assert result.resume_at == reset


def test_usage_limit_soon_waits_for_the_reset_then_runs(wt: Path) -> None:
    reset = int(time.time()) + 60
    sleep = Recorder()
    result = run(wt, fake_profile("usage-limit", "--reset", str(reset)), sleep=sleep)
    assert (result.status, kinds(result)) == ("succeeded", ["usage_limit", "succeeded"])
    assert 30 < sleep.sleeps[0] <= 60


def _open_breaker(board: BreakerBoard, name: str) -> None:
    for _ in range(TWITCHY.breaker_threshold):
        board.record(name, Classification("rate_limited", True, "r", "429"), time.time())


def test_open_breaker_sends_the_attempt_to_the_fallback(wt: Path) -> None:
    board = BreakerBoard(TWITCHY)
    _open_breaker(board, "primary")
    result = run(wt, fake_profile("success", name="primary", fallback="backup"),
                 fake_profile("success", name="backup"), breakers=board)
    assert result.status == "succeeded"
    assert [a.profile for a in result.attempts] == ["backup"]


def test_open_breaker_without_fallback_waits_then_parks(wt: Path) -> None:
    board = BreakerBoard(TWITCHY)
    _open_breaker(board, "primary")
    sleep = Recorder()
    result = run(wt, fake_profile("success", name="primary"), breakers=board, sleep=sleep)
    assert result.status == "parked" and result.attempts == ()
    assert result.failure is not None and result.failure.kind == "breaker_open"
    assert sum(sleep.sleeps) == TWITCHY.breaker_cooldown


def test_breaker_opening_mid_task_parks_instead_of_hammering(wt: Path) -> None:
    result = run(wt, fake_profile("529"), breakers=BreakerBoard(TWITCHY), max_attempts=4)
    assert kinds(result) == ["overloaded", "overloaded"]
    assert result.status == "parked" and result.resume_at is not None


# --- signals, secrets, internal errors -------------------------------------------------------

def test_cancel_during_backoff_stops_without_another_attempt(wt: Path) -> None:
    cancel = threading.Event()
    slow = RetryPolicy(initial_backoff=300.0, max_backoff=300.0, min_model_call=0.0)
    result = run(wt, fake_profile("429-then-success"), policy=slow, cancel=cancel,
                 sleep=None, on_attempt=lambda _a: cancel.set())
    assert result.status == "cancelled" and len(result.attempts) == 1


def test_shutdown_stops_a_running_agent_as_interrupted(wt: Path) -> None:
    shutdown = threading.Event()
    timer = threading.Timer(0.5, shutdown.set)
    timer.start()
    result = run(wt, fake_profile("hang"), shutdown=shutdown)
    timer.cancel()
    assert result.status == "interrupted"
    assert result.attempts[0].run.stopped_by == "shutdown"


def test_secret_never_appears_in_the_execution_json(wt: Path) -> None:
    profile = fake_profile("echo-secret", "--secret-var", "GLM_TOKEN", requires_env=("GLM_TOKEN",),
                           env={"ANTHROPIC_AUTH_TOKEN": SECRET})
    result = run(wt, profile, environ=base_environ(GLM_TOKEN=SECRET))
    dumped = json.dumps(result.to_json())
    assert result.status == "succeeded", dumped
    assert SECRET not in dumped and SECRET[:10] not in dumped and SECRET[-10:] not in dumped
    assert "[REDACTED:" in dumped


def test_unexpected_exception_is_an_internal_error_with_its_traceback(wt: Path) -> None:
    def explode(_attempt: Attempt) -> None:
        raise RuntimeError("boom in a callback")

    result = run(wt, fake_profile("success"), on_attempt=explode)
    assert result.status == "failed"
    assert result.failure is not None and result.failure.kind == "internal_error"
    assert result.failure.traceback and "boom in a callback" in result.failure.traceback
    assert "explode" in result.failure.traceback
    assert len(result.attempts) == 1
