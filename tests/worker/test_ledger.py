"""The daily spend ledger through the real worker (in process) against a remote served by
`git daemon`, with an injected clock that is advanced, never slept: a task that would start past
the day's budget is deferred (status `deferred`, with its reset time), and starts after the reset;
the ledger survives a restart."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from daemonfixtures import DAEMON_ENV, FAKE_AGENT, Site, mtor, site, spec
from hypothesis import given
from hypothesis import strategies as st

from mtor_git.config.load import load_config, parse_config
from mtor_git.errors import ConfigError
from mtor_git.worker.cycle import Worker
from mtor_git.worker.ledger import Ledger

COST = 0.0123  # what fake_agent.py `success` reports per call


class Clock:
    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def s(tmp_path: Path) -> Iterator[Site]:
    with site(tmp_path) as running:
        yield running


def _worker(s: Site, clock: Clock, budget: dict[str, Any], *,
            profile_budget: dict[str, Any] | None = None) -> Worker:
    config = s.config("w1", max_parallel=1, default_agent="fake", extra={"budget": budget})
    if profile_budget is not None:
        data = json.loads(config.read_text())
        data["agents"]["fake"]["budget"] = profile_budget
        config.write_text(json.dumps(data))
    return Worker(load_config(config), DAEMON_ENV, clock=clock)


def _status(s: Site, task_id: str, *flags: str) -> str:
    proc = subprocess.run(mtor("status", task_id, *flags), cwd=s.user, env=DAEMON_ENV,
                          capture_output=True, text=True, timeout=60, check=False)
    return proc.stdout


def _next_midnight(now: float) -> float:
    day = datetime.fromtimestamp(now, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return (day + timedelta(days=1)).timestamp()


def test_three_tasks_against_a_budget_for_two_run_two_and_defer_one_until_the_reset(
        s: Site) -> None:
    clock = Clock(time.time())
    s.push_specs({"t1": spec(), "t2": spec(), "t3": spec()})
    w = _worker(s, clock, {"daily_usd": 1.5 * COST})
    w.run_once()
    assert s.results() == {"t1": "succeeded", "t2": "succeeded"}
    claim = s.claim_json("t3")
    reset = _next_midnight(clock.now)
    assert claim["phase"] == "released"
    assert claim["not_before"] == reset
    assert claim["reason"].startswith("deferred (daily budget $0.02 of the worker spent")
    resets = "resets at " + datetime.fromtimestamp(reset, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    shown = json.loads(_status(s, "t3", "--json"))["tasks"][0]
    assert shown["state"] == "deferred"
    assert shown["detail"].startswith("daily budget $0.02 of the worker spent")
    assert resets in shown["detail"]
    assert resets in _status(s, "t3")
    w.stop(5)

    # The real daemon reads the same ledger: it leaves t3 alone and reports the day's spending.
    config = s.root / "workers" / "w1" / "config.yaml"
    s.run_once(config)
    assert "t3" not in s.results()
    shown = subprocess.run(mtor("status", "--workers", "--config", str(config)), cwd=s.root,
                           env=DAEMON_ENV, capture_output=True, text=True, timeout=60,
                           check=True).stdout
    assert "budget    $0.0246 of $0.02 spent on " in shown, shown
    assert "  fake: $0.0246 (no cap)" in shown, shown

    again = _worker(s, clock, {"daily_usd": 1.5 * COST})  # a restart: the ledger is read back
    assert again.ledger.spent(clock.now) == pytest.approx(2 * COST)
    again.run_once()
    assert "t3" not in s.results()  # still deferred, nothing ran
    clock.now = reset + 1
    again.run_once()
    assert s.results() == {"t1": "succeeded", "t2": "succeeded", "t3": "succeeded"}
    assert again.ledger.spent(clock.now) == pytest.approx(COST)  # the new day's page
    again.stop(5)


def test_a_profile_budget_defers_its_tasks_alone(s: Site) -> None:
    clock = Clock(time.time())
    s.push_specs({"t1": spec(), "t2": spec()})
    w = _worker(s, clock, {"daily_usd": 100}, profile_budget={"daily_usd": COST / 2})
    w.run_once()
    assert s.results() == {"t1": "succeeded"}
    assert s.claim_json("t2")["reason"].startswith(
        "deferred (daily budget $0.01 of profile fake spent")
    w.stop(5)


def test_a_failed_attempt_counts_against_the_budget(s: Site) -> None:
    clock = Clock(time.time())
    s.push_specs({"t1": spec(agent="failing"), "t2": spec()})
    config = s.config("w1", max_parallel=1, default_agent="fake",
                      extra={"budget": {"daily_usd": 0.02}})
    data = json.loads(config.read_text())
    data["agents"]["failing"] = {**data["agents"]["fake"],
                                 "command": [str(FAKE_AGENT), "401", "--cost", "0.03"]}
    config.write_text(json.dumps(data))
    w = Worker(load_config(config), DAEMON_ENV, clock=clock)
    w.run_once()
    assert s.results() == {"t1": "failed"}
    assert w.ledger.spent(clock.now, "failing") == pytest.approx(0.03)
    assert s.claim_json("t2")["reason"].startswith("deferred (daily budget $0.02 of the worker")
    w.stop(5)


def test_the_day_begins_at_the_reset_hour(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path, reset_hour=6)
    at_five = datetime(2026, 3, 2, 5, 0, tzinfo=UTC).timestamp()
    at_seven = datetime(2026, 3, 2, 7, 0, tzinfo=UTC).timestamp()
    ledger.add([("claude", 1.0)], at_five)
    assert ledger.resets_at(at_five) == datetime(2026, 3, 2, 6, 0, tzinfo=UTC).timestamp()
    assert ledger.spent(at_seven) == 0.0
    assert Ledger(tmp_path, reset_hour=6).spent(at_five, "claude") == 1.0


def test_a_budget_that_is_not_a_positive_number_is_refused_with_its_line() -> None:
    text = ("agents: {claude: {budget: {daily_usd: 0}}}\nbudget: {daily_usd: 5, reset_hour: 24}\n"
            "repos: [{url: /tmp/x}]\n")
    with pytest.raises(ConfigError) as info:
        parse_config(text, environ={"PATH": "/usr/bin"})
    lines = str(info.value).splitlines()
    assert any(":1: agents.claude.budget.daily_usd:" in line for line in lines)
    assert any(":2: budget.reset_hour:" in line for line in lines)


@given(now=st.floats(min_value=0, max_value=4e9), hour=st.integers(min_value=0, max_value=23))
def test_the_reset_is_the_next_day_boundary_within_a_day(now: float, hour: int) -> None:
    ledger = Ledger(Path("/nonexistent-ledger-dir"), reset_hour=hour)
    reset = ledger.resets_at(now)
    assert now < reset <= now + 86400
    assert datetime.fromtimestamp(reset, UTC).hour == hour
    assert ledger.day(reset) != ledger.day(now)
    assert ledger.day(reset - 0.001) == ledger.day(now)


def test_a_corrupt_ledger_is_set_aside_and_counting_starts_again(tmp_path: Path) -> None:
    (tmp_path / "ledger.json").write_text("{not json")
    ledger = Ledger(tmp_path)
    assert ledger.spent(time.time()) == 0.0
    assert list(tmp_path.glob("ledger.json.corrupt-*"))
    ledger.add([("claude", 0.5)], time.time())
    assert Ledger(tmp_path).spent(time.time()) == 0.5


def test_a_ledger_that_cannot_be_written_still_counts_in_memory(tmp_path: Path) -> None:
    (tmp_path / "ledger.json").mkdir()  # neither readable nor replaceable as a file
    ledger = Ledger(tmp_path)
    ledger.add([("claude", 0.25)], time.time())
    assert ledger.spent(time.time(), "claude") == 0.25
