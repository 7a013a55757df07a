"""Retry policy as a value: attempt budgets, backoff with full jitter, and per-profile breakers."""

from __future__ import annotations

import math
import random
import threading
from dataclasses import dataclass

from mtor_git.agent.evidence import Classification
from mtor_git.verdict.classify import PROVIDER_TRANSIENT


@dataclass(frozen=True)
class RetryPolicy:
    """How many attempts a task gets and how long to wait between them (seconds)."""

    max_attempts: int = 4
    initial_backoff: float = 30.0
    max_backoff: float = 600.0
    # An attempt that fails faster than this cannot have been a model call: a pipeline fault.
    min_model_call: float = 2.0
    # Never launch the same task twice within this many seconds, whatever the backoff says.
    min_spacing: float = 1.0
    # Consecutive provider-transient failures of one profile before its breaker opens.
    breaker_threshold: int = 5
    breaker_cooldown: float = 300.0


def backoff_delay(policy: RetryPolicy, attempt_number: int, rng: random.Random,
                  retry_after: float | None = None) -> float:
    """Seconds to wait after attempt `attempt_number` (1-based) failed: full jitter,
    uniform(0, min(max_backoff, initial_backoff * 2**(n-1))).

    A Retry-After the agent reported is a floor, and the result is still capped at max_backoff:
    a wait beyond the cap is no backoff but a park, which the caller decides (see `park_until`).
    """
    cap = max(0.0, policy.max_backoff)
    exponent = min(max(attempt_number, 1) - 1, 64)  # 2**64 * any sane initial is far past any cap
    ceiling = min(cap, max(0.0, policy.initial_backoff) * 2.0 ** exponent)
    delay = rng.uniform(0.0, ceiling)
    if retry_after is not None and math.isfinite(retry_after) and retry_after > delay:
        delay = retry_after
    return min(max(delay, 0.0), cap)


def park_until(policy: RetryPolicy, classification: Classification, now: float) -> float | None:
    """Epoch seconds to park a task until, or None to retry (or stop) as usual: a usage limit's
    reset time, or a Retry-After longer than max_backoff."""
    if classification.resume_at is not None and classification.resume_at > now:
        return classification.resume_at
    after = classification.retry_after
    if classification.transient and after is not None and after > policy.max_backoff:
        return now + after
    return None


@dataclass
class _Breaker:
    failures: int = 0  # provider-transient failures since the last success
    opened_at: float | None = None
    probe_since: float | None = None  # when the half-open probe was let through
    last_kind: str | None = None


class BreakerBoard:
    """One circuit breaker per agent profile, shared by all tasks of a worker (thread-safe).

    closed: everything runs. After `breaker_threshold` provider-transient failures (rate_limited,
    overloaded) with no success in between, the breaker opens: nothing runs for
    `breaker_cooldown`. Then it is half-open: one probe at a time runs; a success closes it, a
    provider-transient failure opens it again, any other outcome frees the probe slot. A probe that
    never reports frees its slot after one cool-down, so a lost task cannot wedge a profile.
    """

    def __init__(self, policy: RetryPolicy) -> None:
        self.threshold = max(1, policy.breaker_threshold)
        self.cooldown = max(0.0, policy.breaker_cooldown)
        self._lock = threading.Lock()
        self._breakers: dict[str, _Breaker] = {}

    def _state(self, b: _Breaker, now: float) -> str:
        if b.opened_at is None:
            return "closed"
        return "open" if now - b.opened_at < self.cooldown else "half_open"

    def allow(self, profile: str, now: float) -> bool:
        """May an attempt on `profile` start now? In half-open, True takes the one probe slot."""
        with self._lock:
            b = self._breakers.setdefault(profile, _Breaker())
            state = self._state(b, now)
            if state == "closed":
                return True
            if state == "open":
                return False
            if b.probe_since is not None and now - b.probe_since < self.cooldown:
                return False
            b.probe_since = now
            return True

    def record(self, profile: str, classification: Classification, now: float) -> None:
        kind = classification.kind
        with self._lock:
            b = self._breakers.setdefault(profile, _Breaker())
            b.last_kind = kind
            if kind == "succeeded":
                b.failures, b.opened_at, b.probe_since = 0, None, None
                return
            if kind not in PROVIDER_TRANSIENT:
                b.probe_since = None  # says nothing about the provider; let another probe try
                return
            b.failures += 1
            if self._state(b, now) == "half_open" or (
                    b.opened_at is None and b.failures >= self.threshold):
                b.opened_at, b.probe_since = now, None

    def state(self, profile: str, now: float) -> str:
        """'closed', 'open' or 'half_open' (without taking the probe slot)."""
        with self._lock:
            b = self._breakers.get(profile)
            return "closed" if b is None else self._state(b, now)

    def snapshot(self, now: float) -> dict[str, dict[str, object]]:
        """Every profile's breaker, JSON-ready, for the daemon's status file."""
        with self._lock:
            return {name: {
                "state": self._state(b, now),
                "consecutive_failures": b.failures,
                "opened_at": b.opened_at,
                "half_open_at": None if b.opened_at is None else b.opened_at + self.cooldown,
                "probe_in_flight": b.probe_since is not None,
                "last_kind": b.last_kind,
            } for name, b in sorted(self._breakers.items())}
