"""Retry math: full-jitter backoff with a cap, Retry-After as a floor, parks, circuit breakers."""

from __future__ import annotations

import json
import random
import threading

from hypothesis import given, settings
from hypothesis import strategies as st

from mtor_git.agent.evidence import Classification
from mtor_git.retry.policy import BreakerBoard, RetryPolicy, backoff_delay, park_until

POLICY = RetryPolicy(max_attempts=4, initial_backoff=30.0, max_backoff=600.0,
                     breaker_threshold=3, breaker_cooldown=60.0)


def verdict(kind: str, *, transient: bool | None = None, retry_after: float | None = None,
            resume_at: float | None = None) -> Classification:
    is_transient = kind in ("rate_limited", "overloaded", "network", "provider_error")
    return Classification(kind, is_transient if transient is None else transient, "test",
                          "stderr: test", retry_after=retry_after, resume_at=resume_at)


RATE = verdict("rate_limited")
OK = verdict("succeeded")


# ---- backoff -----------------------------------------------------------------------------------

@settings(deadline=None)
@given(st.integers(-5, 10_000), st.floats(0, 1e6), st.floats(0, 1e6),
       st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)), st.integers())
def test_backoff_is_always_within_zero_and_max_backoff(n: int, initial: float, cap: float,
                                                       retry_after: float | None,
                                                       seed: int) -> None:
    policy = RetryPolicy(initial_backoff=initial, max_backoff=cap)
    delay = backoff_delay(policy, n, random.Random(seed), retry_after)
    assert 0.0 <= delay <= cap


@given(st.integers(1, 40), st.integers())
def test_backoff_is_full_jitter_below_the_exponential_ceiling(n: int, seed: int) -> None:
    ceiling = min(POLICY.max_backoff, POLICY.initial_backoff * 2 ** (n - 1))
    assert 0.0 <= backoff_delay(POLICY, n, random.Random(seed)) <= ceiling


def test_backoff_spreads_over_the_whole_range() -> None:
    rng = random.Random(7)
    delays = [backoff_delay(POLICY, 2, rng) for _ in range(500)]
    assert min(delays) < 6.0 and max(delays) > 54.0  # ceiling 60: both ends are reached


def test_backoff_grows_with_the_attempt_number() -> None:
    rng = random.Random(3)
    first = max(backoff_delay(POLICY, 1, rng) for _ in range(200))
    third = max(backoff_delay(POLICY, 3, rng) for _ in range(200))
    assert first <= 30.0 < third


def test_retry_after_is_a_floor() -> None:
    policy = RetryPolicy(initial_backoff=1.0, max_backoff=600.0)
    assert backoff_delay(policy, 1, random.Random(1), retry_after=45.0) == 45.0


def test_retry_after_beyond_max_backoff_is_capped() -> None:
    assert backoff_delay(POLICY, 1, random.Random(1), retry_after=3600.0) == 600.0


def test_huge_attempt_number_does_not_overflow() -> None:
    assert backoff_delay(POLICY, 10**6, random.Random(1)) <= 600.0


# ---- parks -------------------------------------------------------------------------------------

def test_usage_limit_with_reset_parks_until_the_reset() -> None:
    limit = verdict("usage_limit", resume_at=5000.0)
    assert park_until(POLICY, limit, now=1000.0) == 5000.0


def test_retry_after_beyond_max_backoff_parks() -> None:
    assert park_until(POLICY, verdict("rate_limited", retry_after=3600.0), now=1000.0) == 4600.0


def test_retry_after_within_max_backoff_does_not_park() -> None:
    assert park_until(POLICY, verdict("rate_limited", retry_after=30.0), now=1000.0) is None


def test_reset_in_the_past_does_not_park() -> None:
    assert park_until(POLICY, verdict("usage_limit", resume_at=500.0), now=1000.0) is None


# ---- circuit breakers --------------------------------------------------------------------------

def tripped(board: BreakerBoard, profile: str = "claude", now: float = 0.0) -> BreakerBoard:
    for _ in range(POLICY.breaker_threshold):
        board.record(profile, RATE, now)
    return board


def test_breaker_starts_closed_and_allows() -> None:
    board = BreakerBoard(POLICY)
    assert board.state("claude", 0.0) == "closed" and board.allow("claude", 0.0)


def test_breaker_opens_after_threshold_provider_transient_failures() -> None:
    board = tripped(BreakerBoard(POLICY))
    assert board.state("claude", 1.0) == "open" and not board.allow("claude", 1.0)


def test_breaker_stays_closed_below_threshold() -> None:
    board = BreakerBoard(POLICY)
    for _ in range(POLICY.breaker_threshold - 1):
        board.record("claude", verdict("overloaded"), 0.0)
    assert board.allow("claude", 0.0)


def test_non_provider_failures_do_not_open_the_breaker() -> None:
    board = BreakerBoard(POLICY)
    for kind in ("network", "provider_error", "auth", "empty_failure", "timeout") * 3:
        board.record("claude", verdict(kind), 0.0)
    assert board.state("claude", 0.0) == "closed"


def test_success_resets_the_failure_count() -> None:
    board = BreakerBoard(POLICY)
    for _ in range(POLICY.breaker_threshold - 1):
        board.record("claude", RATE, 0.0)
    board.record("claude", OK, 0.0)
    board.record("claude", RATE, 0.0)
    assert board.state("claude", 0.0) == "closed"


def test_breakers_are_per_profile() -> None:
    board = tripped(BreakerBoard(POLICY), "claude")
    assert board.allow("glm", 1.0) and not board.allow("claude", 1.0)


def test_breaker_is_half_open_after_cooldown_and_allows_one_probe() -> None:
    board = tripped(BreakerBoard(POLICY))
    assert board.state("claude", 60.0) == "half_open"
    assert [board.allow("claude", 60.0 + i) for i in range(3)] == [True, False, False]


def test_successful_probe_closes_the_breaker() -> None:
    board = tripped(BreakerBoard(POLICY))
    assert board.allow("claude", 61.0)
    board.record("claude", OK, 62.0)
    assert board.state("claude", 62.0) == "closed" and board.allow("claude", 62.0)


def test_failed_probe_reopens_for_a_full_cooldown() -> None:
    board = tripped(BreakerBoard(POLICY))
    assert board.allow("claude", 61.0)
    board.record("claude", RATE, 62.0)
    assert board.state("claude", 100.0) == "open" and board.state("claude", 122.0) == "half_open"


def test_probe_with_non_provider_outcome_frees_the_slot() -> None:
    board = tripped(BreakerBoard(POLICY))
    assert board.allow("claude", 61.0)
    board.record("claude", verdict("usage_error"), 62.0)
    assert board.state("claude", 63.0) == "half_open" and board.allow("claude", 63.0)


def test_probe_that_never_reports_frees_its_slot_after_a_cooldown() -> None:
    board = tripped(BreakerBoard(POLICY))
    assert board.allow("claude", 61.0)
    assert not board.allow("claude", 120.0)
    assert board.allow("claude", 121.0)


def test_concurrent_callers_get_exactly_one_half_open_probe() -> None:
    board = tripped(BreakerBoard(POLICY))
    start = threading.Barrier(16)
    granted: list[bool] = []
    lock = threading.Lock()

    def caller() -> None:
        start.wait()
        allowed = board.allow("claude", 61.0)
        with lock:
            granted.append(allowed)

    threads = [threading.Thread(target=caller) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert granted.count(True) == 1


def test_snapshot_is_json_ready() -> None:
    board = tripped(BreakerBoard(POLICY))
    board.record("glm", OK, 0.0)
    snap = json.loads(json.dumps(board.snapshot(10.0)))
    assert snap["claude"]["state"] == "open" and snap["claude"]["consecutive_failures"] == 3
    assert snap["glm"]["state"] == "closed"


KINDS = ["rate_limited", "overloaded", "succeeded", "network", "auth", "usage_error"]
# Steps around the cool-down and mostly provider-transient records, so breakers do open.
OPS = st.lists(st.tuples(st.sampled_from(["allow", "allow", "record"]),
                         st.sampled_from(KINDS[:2] * 3 + KINDS),
                         st.sampled_from([0.0, 1.0, 30.0, 59.0, 61.0]) | st.floats(0, 90)),
               max_size=60)


@settings(deadline=None)
@given(OPS)
def test_breaker_never_allows_two_concurrent_half_open_probes(ops: list[tuple[str, str, float]]
                                                              ) -> None:
    board, now = BreakerBoard(POLICY), 0.0
    probe_at: float | None = None  # a granted probe that has not reported yet
    for op, kind, step in ops:
        now += step
        if op == "record":
            board.record("claude", verdict(kind), now)
            probe_at = None
            continue
        was = board.state("claude", now)
        allowed = board.allow("claude", now)
        if was == "open":
            assert not allowed
        if was == "half_open" and allowed:
            assert probe_at is None or now - probe_at >= POLICY.breaker_cooldown
            probe_at = now
