"""The reading and steering verbs against real daemon cycles: `mtor-git daemon` subprocesses with
fake agents (tests/fake_agents/fake_agent.py) run the tasks; status, result, history and watch
must show each outcome as it happened, and cancel and retry must be honoured."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from boardfixtures import mtor
from daemonfixtures import DAEMON_ENV, FAKE_AGENT, Site, site, spec, wait_for

pytestmark = pytest.mark.slow


def agent(mode: str, *args: str) -> dict[str, Any]:
    return {"command": [sys.executable, str(FAKE_AGENT), mode, *args], "report": "claude-json"}


AGENTS = {"ok": agent("success"), "silent": agent("silent-fail"), "busy": agent("529"),
          "hang": agent("hang")}


@pytest.fixture
def s(tmp_path: Path) -> Iterator[Site]:
    with site(tmp_path) as running:
        yield running


def config(s: Site, agents: dict[str, Any] | None = None, **kw: Any) -> Path:
    return s.config("w1", default_agent="ok", claim_lease=kw.pop("claim_lease", "3s"),
                    extra={"agents": agents or AGENTS,
                           "retry": {"min_model_call": "0s", "initial_backoff": "0.05s",
                                     "max_backoff": "0.1s", "max_attempts": 2}}, **kw)


def board(s: Site) -> dict[str, dict[str, Any]]:
    out = mtor(s.user, "status", "--json")
    assert out.code == 0, out.stderr
    return {t["id"]: t for t in out.json()["tasks"]}


def test_each_outcome_of_a_daemon_cycle_is_shown_by_every_verb(s: Site) -> None:
    s.push_specs({"good": spec(agent="ok"), "quiet": spec(agent="silent"),
                  "tired": spec(agent="busy"), "bad": spec(colour="red")})
    assert {t["state"] for t in board(s).values()} == {"pending"}
    s.run_once(config(s))

    got = board(s)
    assert {i: t["state"] for i, t in got.items()} == {
        "good": "succeeded", "quiet": "failed", "tired": "exhausted", "bad": "rejected"}
    assert got["good"]["result"]["model_invoked"] is True
    assert got["quiet"]["result"]["failure_kind"] == "empty_failure"
    assert got["bad"]["result"]["failure_kind"] == "invalid_spec"

    assert mtor(s.user, "result", "good").code == 0
    assert mtor(s.user, "result", "quiet").code == 1
    quiet = mtor(s.user, "history", "quiet").stdout
    assert "empty_failure (terminal)" in quiet and "stdout    0 bytes" in quiet
    tired = mtor(s.user, "history", "tired", "--json").json()["runs"][0]
    assert [a["classification"]["kind"] for a in tired["attempts"]] == ["overloaded"] * 2
    assert all(a["classification"]["transient"] for a in tired["attempts"])
    assert "colour" in mtor(s.user, "history", "bad").stdout

    assert mtor(s.user, "watch", "good", "--interval", "0.1s").code == 0
    for task_id in ("quiet", "tired", "bad"):
        assert mtor(s.user, "watch", task_id, "--interval", "0.1s").code == 1


def test_cancel_stops_a_hanging_agent_and_watch_follows_it(s: Site) -> None:
    s.push_specs({"stuck": spec(agent="hang")})
    watcher = subprocess.Popen(
        [sys.executable, "-m", "mtor_git", "watch", "stuck", "--interval", "0.2s",
         "--timeout", "90s"], cwd=s.user, env=DAEMON_ENV, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    try:
        assert watcher.stdout is not None
        first = watcher.stdout.readline()  # the watch is under way before any worker starts
        s.start(config(s), once=True)
        wait_for(lambda: board(s)["stuck"]["state"] in ("claimed", "running"), 60,
                 "the daemon to claim the hanging task")
        assert mtor(s.user, "cancel", "stuck", "--reason", "hangs").code == 0
        out, err = watcher.communicate(timeout=90)
    finally:
        if watcher.poll() is None:
            watcher.kill()
    assert watcher.returncode == 1, err
    lines = [first.rstrip("\n"), *out.splitlines()]
    assert "stuck pending (run 1)" in lines[0]
    assert any(" claimed " in line or " running " in line for line in lines)
    assert "cancelled" in lines[-1]
    task = board(s)["stuck"]
    assert task["state"] == "cancelled"
    assert mtor(s.user, "cancel", "stuck").code == 2  # done now


def test_retry_runs_again_on_a_new_branch_and_history_shows_both_runs(s: Site) -> None:
    s.push_specs({"flaky": spec(agent="flaky")})
    s.run_once(config(s, {**AGENTS, "flaky": agent("silent-fail")}))
    assert board(s)["flaky"]["state"] == "failed"

    assert mtor(s.user, "retry", "flaky").code == 0
    task = board(s)["flaky"]
    assert (task["state"], task["run"], task["branch"]) == ("pending", 2, "mtor/flaky-r2")
    # The operator fixed the worker's profile; the retry runs with it.
    s.run_once(config(s, {**AGENTS, "flaky": agent("success")}))

    task = board(s)["flaky"]
    assert (task["state"], task["run"], task["branch"]) == ("succeeded", 2, "mtor/flaky-r2")
    runs = mtor(s.user, "history", "flaky", "--json").json()["runs"]
    assert [(r["run"], r["state"]) for r in runs] == [(1, "failed"), (2, "succeeded")]
    assert mtor(s.user, "result", "flaky", "--run", "1").code == 1
    assert mtor(s.user, "result", "flaky").code == 0
    assert mtor(s.user, "watch", "flaky", "--interval", "0.1s").code == 0
    assert "refs/heads/mtor/flaky" in s.refs()  # the first result stays


def test_watch_times_out_with_124_on_a_task_nobody_runs(s: Site) -> None:
    s.push_specs({"idle": spec()})
    out = mtor(s.user, "watch", "idle", "--timeout", "0.5s", "--interval", "0.1s")
    assert out.code == 124
    assert "pending" in out.stdout and "still pending" in out.stderr


def test_watch_of_an_unknown_task_fails_at_once(s: Site) -> None:
    out = mtor(s.user, "watch", "ghost", "--timeout", "5s")
    assert out.code == 1 and "no task" in out.stderr
