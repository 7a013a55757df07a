"""The per-task attempt loop: preflight, run, parse, classify, and retry only what the classifier
calls transient, within the attempt budget, the cost cap, the breakers and the cancel signals.

Outcomes (Execution.status): succeeded | failed (terminal fault, preflight, cost cap, internal
error) | exhausted (transient faults beyond the budget) | cancelled | interrupted (worker shutdown,
run again later) | parked (a usage limit or an open breaker says: not before `resume_at`).

Choices kept simple on purpose:
- A fallback profile runs the next attempt only after a provider-transient fault (rate_limited,
  overloaded); any other fault sends the next attempt back to the task's own profile. The spec's
  model is not handed to a fallback (it names a model of the spec's own agent).
- An open breaker: use the fallback if its breaker allows; otherwise wait in short steps (each an
  interruptible sleep) for up to `policy.breaker_cooldown`, then park. Waiting spends no attempt.
- A success stands even when it pushed the reported cost past `max_cost_usd`.
- Each attempt runs under the live monitor (agent/live.py) with the turns and dollars earlier
  attempts left; after a transient fault it resumes the CLI's session when the model ran and the
  profile can (agent/resume.py), and a refused resume is run afresh at once, once per task.
"""

from __future__ import annotations

import random
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from loguru import logger

from mtor_git.agent.evidence import Attempt, Failure, StoppedBy
from mtor_git.agent.live import LiveLimits
from mtor_git.agent.preflight import Prepared, RunRequest, preflight
from mtor_git.agent.profiles import AgentProfile
from mtor_git.agent.progress import ProgressSink
from mtor_git.agent.redact import Redactor, secrets_from
from mtor_git.agent.reports import parse_report
from mtor_git.agent.resume import (
    RESUME_PROMPT,
    attempt_command,
    resumable_session,
    resume_refused,
    safe_session,
)
from mtor_git.agent.spawn import run_attempt
from mtor_git.errors import PreflightError
from mtor_git.retry.execution import ExecuteRequest as ExecuteRequest
from mtor_git.retry.execution import Execution as Execution
from mtor_git.retry.execution import Usage as Usage
from mtor_git.retry.policy import BreakerBoard, RetryPolicy, backoff_delay, park_until
from mtor_git.states import TaskStatus
from mtor_git.verdict.classify import PROVIDER_TRANSIENT, classify, describe, fingerprint
from mtor_git.verdict.live import judge_event

DEFAULT_TIMEOUT = 1800.0
_BREAKER_STEP = 5.0  # seconds between checks of an open breaker


def interruptible_sleep(*events: threading.Event | None) -> Callable[[float], None]:
    """A sleep that returns early as soon as any of `events` is set."""
    watched = [e for e in events if e is not None]

    def sleep(seconds: float) -> None:
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            if any(e.is_set() for e in watched):
                return
            if watched:
                watched[0].wait(min(left, 0.05))
            else:
                time.sleep(left)

    return sleep


def execute(request: ExecuteRequest, *, sleep: Callable[[float], None] | None = None,
            clock: Callable[[], float] = time.time, rng: random.Random | None = None,
            on_attempt: Callable[[Attempt], None] | None = None) -> Execution:
    """Run one task's agent until success, a terminal fault, the budget, or a signal.

    The keyword arguments are the loop's clock and dice, for tests to inject. Never raises: an
    unexpected exception becomes status failed, kind internal_error, with a traceback.
    """
    loop = _Loop(request, sleep=sleep or interruptible_sleep(request.cancel, request.shutdown),
                 clock=clock, rng=rng or random.Random(), on_attempt=on_attempt)
    try:
        return loop.run()
    except Exception as exc:
        logger.exception("internal error while executing agent {}", request.profile_name)
        red = loop.redactor
        return loop.finish(TaskStatus.FAILED, Failure(
            "internal_error", red.text(f"{type(exc).__name__}: {exc}"), rule="internal_error",
            traceback=red.text(traceback.format_exc())))


@dataclass
class _Next:
    """The loop's decision after a transient fault: who runs next, after how long."""

    prepared: Prepared
    delay: float


@dataclass
class _Loop:
    request: ExecuteRequest
    sleep: Callable[[float], None]
    clock: Callable[[], float]
    rng: random.Random
    on_attempt: Callable[[Attempt], None] | None
    attempts: list[Attempt] = field(default_factory=list)
    prepared: dict[str, Prepared | None] = field(default_factory=dict)
    last_launch: float | None = None
    resume: str | None = None  # the CLI session the next attempt continues
    resume_refused: bool = False  # a refused resume falls back to fresh runs for good
    preface: str = RESUME_PROMPT  # what a resumed attempt's prompt starts with
    redactor: Redactor = field(init=False)
    policy: RetryPolicy = field(init=False)
    profiles: Mapping[str, AgentProfile] = field(init=False)
    breakers: BreakerBoard = field(init=False)

    def __post_init__(self) -> None:
        req = self.request
        self.policy, self.profiles, self.breakers = req.policy, req.profiles, req.breakers
        known = self.profiles.get(req.profile_name) or AgentProfile(name="?", command=())
        self.redactor = Redactor(secrets_from(known, req.environ))
        if known.resume_args and safe_session(req.resume):
            self.resume, self.preface = req.resume, ""

    # --- the loop ---------------------------------------------------------------------------

    def run(self) -> Execution:
        try:
            current = self._prepare(self.request.profile_name, model=self.request.model)
        except PreflightError as exc:
            logger.warning("preflight failed for agent {}: {} ({})", self.request.profile_name,
                           self.redactor.text(str(exc)), exc.kind)
            return self.finish(TaskStatus.FAILED, Failure(
                exc.kind, self.redactor.text(str(exc)), rule="preflight"))
        primary, waited = current, 0.0
        budget = max(self.request.budget.attempts_left(self.policy, current.request.profile), 1)
        for number in range(1, budget + 1):
            gate = self._gate(current)
            if isinstance(gate, Execution):
                return gate
            current, gate_wait = gate
            attempt = self._attempt(number, current, waited + gate_wait)
            decision = self._decide(attempt, primary, last=number == budget)
            if isinstance(decision, Execution):
                return decision
            current, waited = decision.prepared, decision.delay
            self.sleep(decision.delay)
        raise AssertionError("unreachable: the last attempt always decides")  # pragma: no cover

    def _gate(self, current: Prepared) -> Execution | tuple[Prepared, float]:
        """Signals, the breaker and the launch spacing, in that order, before a launch."""
        stopped = self._stopped()
        if stopped:
            return stopped
        chosen = self._through_breaker(current)
        if isinstance(chosen, Execution):
            return chosen
        prepared, waited = chosen
        gap = (self.last_launch + self.policy.min_spacing - self.clock()
               if self.last_launch is not None else 0.0)
        if gap > 0:
            self.sleep(gap)
            waited += gap
        return self._stopped() or (prepared, waited)

    def _progress(self, number: int, profile: str) -> ProgressSink | None:
        sink = self.request.progress
        if sink is None:
            return None
        return lambda reading: sink({"attempt": number, "profile": profile, **reading})

    def _attempt(self, number: int, prepared: Prepared, waited: float) -> Attempt:
        profile = prepared.request.profile
        self.last_launch = self.clock()
        session, self.resume = self.resume, None
        logger.info("attempt {} with agent {}{}", number, profile.name,
                    f", resuming session {session}" if session else "")
        attempt = self._launch(number, prepared, waited, session)
        if resume_refused(attempt) and not self.resume_refused:
            logger.warning("agent {} refused to resume session {}: running afresh",
                           profile.name, session)
            self.resume_refused = True
            attempt = replace(self._launch(number, prepared, waited, None),
                              resume_refused=session)
        self._record(attempt)
        return attempt

    def _launch(self, number: int, prepared: Prepared, waited: float,
                session: str | None) -> Attempt:
        """One run of the agent: its caps (what earlier attempts left), the session it resumes,
        the live monitor's limits, then the report and the verdict."""
        profile = prepared.request.profile
        turns, dollars = self._left(profile)
        limits = LiveLimits(stall_timeout=profile.stall_timeout, max_cost_usd=dollars,
                            max_turns=turns, max_cli_retry_wait=profile.max_cli_retry_wait,
                            judge=judge_event)
        command = attempt_command(prepared, max_turns=turns, max_cost_usd=dollars,
                                  session_id=session, preface=self.preface)
        self.preface = RESUME_PROMPT  # only the first attempt continues another round's session
        run = run_attempt(command, cancel=self.request.cancel, shutdown=self.request.shutdown,
                          live=limits, progress=self._progress(number, profile.name))
        report = parse_report(profile.report, run)
        previous = self.attempts[-1] if self.attempts else None
        verdict = classify(run, report, min_model_call=self.policy.min_model_call,
                           previous=previous.classification if previous else None,
                           previous_fingerprint=(fingerprint(previous.run, previous.report)
                                                 if previous else None),
                           now=self.clock())
        return Attempt(number, profile.name, run, report, verdict, waited_before=waited,
                       resumed_from=session)

    def _left(self, profile: AgentProfile) -> tuple[int | None, float | None]:
        """The turns and dollars the next attempt may still spend (None: no cap)."""
        usage = Usage.of(tuple(self.attempts))
        cap = self.request.budget.turns_cap(profile)
        turns = None if cap is None else max(cap - (usage.turns or 0), 1)
        dollars = self.request.budget.cost_left()
        if dollars is not None:
            dollars = max(dollars - (usage.cost_usd or 0.0), 0.0)
        return turns, dollars

    def _turns_spent(self, profile_name: str) -> int | None:
        """The turn cap when the attempts so far have used it all, else None."""
        profile = self.profiles.get(profile_name)
        cap = self.request.budget.turns_cap(profile) if profile is not None else None
        used = Usage.of(tuple(self.attempts)).turns or 0
        return cap if cap is not None and used >= cap else None

    def _record(self, attempt: Attempt) -> None:
        verdict = attempt.classification
        self.attempts.append(attempt)
        self.breakers.record(attempt.profile, verdict, self.clock())
        logger.info("attempt {} with agent {}: {} ({}, {})", attempt.number, attempt.profile,
                    verdict.kind, "transient" if verdict.transient else "terminal", verdict.rule)
        if self.on_attempt is not None:
            self.on_attempt(attempt)

    def _decide(self, attempt: Attempt, primary: Prepared, *, last: bool) -> Execution | _Next:
        run, verdict = attempt.run, attempt.classification
        if run.stopped_by == StoppedBy.SHUTDOWN:
            return self._interrupted()
        if run.stopped_by == StoppedBy.CANCEL:
            return self._cancelled()
        if verdict.succeeded:
            return self.finish(TaskStatus.SUCCEEDED)
        spent = Usage.of(tuple(self.attempts)).cost_usd
        cap = self.request.budget.cost_left()
        if cap is not None and spent is not None and spent > cap:
            return self.finish(TaskStatus.FAILED, Failure(
                "budget_exceeded", f"reported cost ${spent:.4f} exceeds the task's cap "
                f"${cap:.4f}", rule="max_cost_usd", evidence=verdict.evidence))
        turns = self._turns_spent(attempt.profile)
        if verdict.transient and turns is not None:
            return self.finish(TaskStatus.FAILED, Failure(
                "max_turns", f"the task's {turns} turns are spent by its attempts",
                rule="max_turns", evidence=verdict.evidence))
        if last and verdict.transient:
            return self.finish(TaskStatus.EXHAUSTED, self._failure(
                attempt, f"{attempt.number} attempts, each a transient fault"))
        now = self.clock()
        until = park_until(self.policy, verdict, now)
        if until is not None:  # a usage limit's reset, or a Retry-After beyond max_backoff
            if last or until - now > self.request.park_limit:
                return self.finish(TaskStatus.PARKED, self._failure(
                    attempt, "parked until the provider's limit resets"), resume_at=until)
            return _Next(self._next_profile(attempt, primary), until - now)
        if not verdict.transient:
            return self.finish(TaskStatus.FAILED, self._failure(attempt, "terminal fault"))
        delay = backoff_delay(self.policy, attempt.number, self.rng,
                              retry_after=verdict.retry_after)
        following = self._next_profile(attempt, primary)
        profile = self.profiles.get(attempt.profile)
        if (profile is not None and not self.resume_refused
                and following.request.profile.name == profile.name):
            self.resume = resumable_session(attempt, profile)
        return _Next(following, delay)

    # --- profiles, breakers, fallbacks ------------------------------------------------------

    def _prepare(self, name: str, *, model: str | None) -> Prepared:
        profile = self.profiles.get(name)
        if profile is None:
            raise PreflightError("unknown_agent", f"agent {name!r} is not configured "
                                 f"(configured: {', '.join(self.profiles) or 'none'})")
        req, cap = self.request, profile.timeout
        timeout = min(req.timeout or cap or DEFAULT_TIMEOUT, cap or float("inf"))
        return preflight(RunRequest(profile, req.prompt, Path(req.cwd), model=model,
                                    timeout=timeout, environ=req.environ,
                                    sandbox=req.sandbox, ro_paths=req.ro_paths))

    def _fallback_of(self, profile: AgentProfile) -> Prepared | None:
        """The profile's fallback, preflighted once; None when there is none or it cannot run."""
        name = profile.fallback
        if not name or name == profile.name:
            return None
        if name not in self.prepared:
            try:
                self.prepared[name] = self._prepare(name, model=None)
            except PreflightError as exc:
                logger.warning("fallback agent {} cannot run: {} ({})", name,
                               self.redactor.text(str(exc)), exc.kind)
                self.prepared[name] = None
        return self.prepared[name]

    def _next_profile(self, attempt: Attempt, primary: Prepared) -> Prepared:
        if attempt.classification.kind not in PROVIDER_TRANSIENT:
            return primary
        current = self.profiles.get(attempt.profile)
        fallback = self._fallback_of(current) if current is not None else None
        return fallback or primary

    def _through_breaker(self, current: Prepared) -> Execution | tuple[Prepared, float]:
        name = current.request.profile.name
        if self.breakers.allow(name, self.clock()):
            return current, 0.0
        fallback = self._fallback_of(current.request.profile)
        if fallback is not None and self.breakers.allow(fallback.request.profile.name,
                                                        self.clock()):
            logger.info("breaker open for agent {}: using fallback {}", name,
                        fallback.request.profile.name)
            return fallback, 0.0
        waited, cooldown = 0.0, self.policy.breaker_cooldown
        while waited < cooldown:
            step = min(_BREAKER_STEP, cooldown - waited)
            self.sleep(step)
            waited += step
            stopped = self._stopped()
            if stopped:
                return stopped
            if self.breakers.allow(name, self.clock()):
                return current, waited
        return self.finish(TaskStatus.PARKED, Failure(
            "breaker_open", f"agent {name!r} has failed repeatedly with provider faults; its "
            "breaker is open", rule="breaker"), resume_at=self.clock() + cooldown)

    # --- endings ----------------------------------------------------------------------------

    def _stopped(self) -> Execution | None:
        if self.request.shutdown is not None and self.request.shutdown.is_set():
            return self._interrupted()
        if self.request.cancel is not None and self.request.cancel.is_set():
            return self._cancelled()
        return None

    def _interrupted(self) -> Execution:
        return self.finish(TaskStatus.INTERRUPTED, Failure(
            "interrupted", "the worker is shutting down; the task will run again",
            rule="shutdown"))

    def _cancelled(self) -> Execution:
        return self.finish(TaskStatus.CANCELLED, Failure("cancelled", "cancelled on request",
                                                          rule="cancel"))

    def _failure(self, attempt: Attempt, what: str) -> Failure:
        verdict = attempt.classification
        meaning = describe(verdict.kind, verdict.rule)
        return Failure(verdict.kind, f"{what}: attempt {attempt.number} with agent "
                       f"{attempt.profile!r}: {meaning}", rule=verdict.rule,
                       evidence=verdict.evidence)

    def finish(self, status: TaskStatus, failure: Failure | None = None, *,
               resume_at: float | None = None) -> Execution:
        attempts = tuple(self.attempts)
        invoked = [a.model_invoked for a in attempts]
        model_invoked: bool | None
        if any(v is True for v in invoked):
            model_invoked = True
        elif all(v is False for v in invoked):  # also: no attempt ran (preflight, signal)
            model_invoked = False
        else:
            model_invoked = None
        logger.info("execution {}: {} attempt(s), model invoked: {}", status, len(attempts),
                    model_invoked)
        return Execution(status=status, attempts=attempts, failure=failure, resume_at=resume_at,
                         model_invoked=model_invoked, usage=Usage.of(attempts))
