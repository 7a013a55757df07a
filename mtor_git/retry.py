"""Retry policy as a value: attempt budgets, backoff with full jitter, and per-profile breakers."""

from __future__ import annotations

from dataclasses import dataclass


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
