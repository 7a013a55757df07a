"""Limits, through a real daemon: the spec's timeout kills a hanging agent; the attempt budget is
the smallest of the retry policy's, the spec's and the agent profile's; a task whose agent
reports spending past the spec's max_cost_usd stops as `failed`, kind budget_exceeded."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator

import pytest
from daemonfixtures import Site, site, spec
from hostilefixtures import counting_profile, leaky_profile, run_daemon_once, worker_config

from mtor_git.config.load import parse_config
from mtor_git.errors import ConfigError

POLICY_ATTEMPTS = 5


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """One push, one daemon run: a hanging agent, agents failing with a 429 every time under
    different budgets, and one that reports $0.60 per failed attempt."""
    with site(tmp_path_factory.mktemp("limits")) as s:
        failing = leaky_profile(s, "--clean", "--fail")
        agents = {
            "hang": counting_profile(s, "--hang"),
            "fail": failing,
            "fail-cap3": {**failing, "max_attempts": 3},
            "fail-cap2": {**failing, "max_attempts": 2},
            "pricey": leaky_profile(s, "--clean", "--fail", "--cost", "0.6"),
        }
        # The breaker would otherwise open after 5 rate limits of one profile across tasks.
        config = worker_config(s, "w1", agents, default_agent="fail", max_parallel=8,
                               retry={"max_attempts": POLICY_ATTEMPTS, "breaker_threshold": 100})
        s.push_specs({
            "t-timeout": spec(agent="hang", timeout="1s"),
            "t-policy": spec(agent="fail"),
            "t-spec": spec(agent="fail", max_attempts=2),
            "t-profile": spec(agent="fail-cap3"),
            "t-both": spec(agent="fail-cap2", max_attempts=4),
            "t-spec-below-profile": spec(agent="fail-cap3", max_attempts=1),
            "t-cost": spec(agent="pricey", max_cost_usd=1.0),
        })
        run_daemon_once(s, config, {"MTOR_CANARY": "not-a-real-token"})
        yield s


@pytest.mark.slow
def test_spec_timeout_kills_a_hanging_agent(limited: Site) -> None:
    result = limited.result("t-timeout")
    assert result["status"] == "failed"
    assert result["failure"]["kind"] == "timeout"
    assert len(result["attempts"]) == 1  # a hang is no evidence of a transient fault
    assert result["attempts"][0]["stopped_by"] == "timeout"
    assert result["attempts"][0]["duration"] < 30
    assert limited.invocations().count("t-timeout.r1") == 1
    assert limited.host_pids("t-timeout.r1") == []  # it ran, and nothing of it runs now


@pytest.mark.slow
@pytest.mark.parametrize(("task", "budget"), [
    ("t-policy", POLICY_ATTEMPTS),  # nothing else: the retry policy's
    ("t-spec", 2),  # the spec's, below the policy's
    ("t-profile", 3),  # the profile's, below the policy's
    ("t-both", 2),  # the profile's, below the spec's
    ("t-spec-below-profile", 1),  # the spec's, below the profile's
])
def test_attempt_budget_is_the_smallest_of_policy_spec_and_profile(
        limited: Site, task: str, budget: int) -> None:
    result = limited.result(task)
    assert Counter(limited.invocations())[f"{task}.r1"] == budget
    assert len(result["attempts"]) == budget
    assert all(a["classification"]["kind"] == "rate_limited" for a in result["attempts"])
    assert result["status"] == "exhausted"


@pytest.mark.slow
def test_reported_cost_past_max_cost_usd_ends_budget_exceeded(limited: Site) -> None:
    result = limited.result("t-cost")
    assert (result["status"], result["terminal"]) == ("failed", True)
    assert result["failure"]["kind"] == "budget_exceeded"
    assert "exceeds the task's cap $1.0000" in result["failure"]["message"]
    assert len(result["attempts"]) == 2  # $0.60, then $1.20: stop, though 5 were allowed
    assert result["usage"]["cost_usd"] == pytest.approx(1.2)
    assert Counter(limited.invocations())["t-cost.r1"] == 2


# -- the profile key itself ------------------------------------------------------------------
CONFIG = """\
repos: [{{url: /srv/x.git}}]
agents:
  a:
    command: [{binary}]
    max_attempts: {value}
"""


def test_profile_max_attempts_is_read_from_the_config() -> None:
    config = parse_config(CONFIG.format(binary=os.devnull, value=3), environ={})
    assert config.agents["a"].max_attempts == 3
    plain = parse_config(CONFIG.replace("    max_attempts: {value}\n", "").format(
        binary=os.devnull), environ={})
    assert plain.agents["a"].max_attempts is None


@pytest.mark.parametrize(("value", "message"), [
    ("0", "must be at least 1"), ("three", "expected a whole number, got str"),
    ("true", "expected a whole number, got a boolean"),
    ("2.5", "expected a whole number, got float"),
])
def test_profile_max_attempts_rejects_what_is_no_budget(value: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(CONFIG.format(binary=os.devnull, value=value), source="w.yaml", environ={})
    assert str(caught.value) == f"w.yaml:5: agents.a.max_attempts: {message}"
