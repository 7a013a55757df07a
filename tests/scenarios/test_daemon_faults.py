"""The worker daemon when things go wrong: kill -9 mid-run, a remote that goes away at push
time, a refused result push, SIGTERM while an agent runs, cancel requests; and poke."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from daemonfixtures import DAEMON_ENV, Site, mtor, site, spec, wait_for
from gitfixtures import install_hook

pytestmark = pytest.mark.slow


@pytest.fixture
def s(tmp_path: Path) -> Iterator[Site]:
    with site(tmp_path) as running:
        yield running


def agent_started(s: Site, n: int = 1) -> bool:
    return len(s.invocations()) >= n


def kill9(proc: subprocess.Popen[bytes]) -> None:
    os.kill(proc.pid, signal.SIGKILL)  # the daemon alone: its agent (own group) lives on
    proc.wait(10)


def pid_alive(pid: int) -> bool:
    try:
        return "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()
    except FileNotFoundError:
        return False


def status_file(s: Site, name: str) -> dict[str, Any] | None:
    try:
        data: dict[str, Any] = json.loads((s.state_dir(name) / "status.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return data if data.get("last_poll") else None


def user_cli(s: Site, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(mtor(*args), cwd=s.user, env=DAEMON_ENV, capture_output=True,
                          text=True, timeout=60, check=True)


# -- crashes -------------------------------------------------------------------------------------
def test_kill9_then_restart_recovers_its_own_claim_at_once(s: Site) -> None:
    s.push_specs({"t1": spec(agent="hang-first")})
    config = s.config("w1", claim_lease="60s")  # far longer than the test: no expiry involved
    proc = s.start(config, once=True)
    wait_for(lambda: agent_started(s), 30, "the agent to start")
    kill9(proc)
    assert s.claims() == ["t1"]

    s.run_once(config)  # same worker id, same dirs, a new process

    assert s.result("t1")["status"] == "succeeded"
    assert s.result("t1")["worker"]["id"] == "w1"
    assert s.invocations() == ["t1.r1", "t1.r1"]
    assert s.claims() == []


def test_another_worker_takes_over_only_after_the_lease_expires(s: Site) -> None:
    s.push_specs({"t1": spec(agent="hang-first")})
    proc = s.start(s.config("w1", claim_lease="6s"), once=True)
    wait_for(lambda: agent_started(s), 30, "the agent to start")
    kill9(proc)
    other = s.config("w2", claim_lease="6s")

    s.run_once(other)  # the lease still runs: w2 leaves the task alone
    assert s.invocations() == ["t1.r1"]
    assert s.claim_json("t1")["worker"] == "w1"

    expires = s.claim_json("t1")["lease_expires"]
    time.sleep(max(0.0, expires - time.time()) + 0.2)
    s.run_once(other)

    result = s.result("t1")
    assert (result["status"], result["worker"]["id"]) == ("succeeded", "w2")
    assert s.invocations() == ["t1.r1", "t1.r1"]
    assert s.claims() == []


# -- the remote goes away ------------------------------------------------------------------------
def test_result_waits_in_the_outbox_while_the_remote_is_down_then_lands_once(s: Site) -> None:
    s.push_specs({"t1": spec(agent="slow")})
    config = s.config("w1")
    proc = s.start(config, once=True)
    wait_for(lambda: agent_started(s), 30, "the agent to start")
    s.server.stop()  # while the agent works

    assert proc.wait(60) == 0
    entries = [json.loads(p.read_text()) for p in s.outbox("w1")]
    assert [(e["task_id"], e["status"]) for e in entries] == [("t1", "succeeded")]
    assert "refs/heads/mtor/t1" not in s.refs()

    s.server.start()  # same port: the URL the worker knows works again
    s.run_once(config)

    assert s.results() == {"t1": "succeeded"}
    assert s.outbox("w1") == []
    assert s.claims() == []
    landed = s.refs()["refs/heads/mtor/t1"]
    assert landed == entries[0]["commit"]

    s.run_once(config)
    assert s.refs()["refs/heads/mtor/t1"] == landed
    assert s.invocations() == ["t1.r1"]


def test_a_result_waiting_in_the_outbox_keeps_its_claim_from_other_workers(s: Site) -> None:
    block = s.root / "block-results"
    block.touch()
    install_hook(s.remote, "pre-receive", f"""#!/bin/sh
while read old new ref; do
  case "$ref" in refs/heads/mtor/*) [ -e {block} ] && echo "results blocked" && exit 1;; esac
done
exit 0
""")
    s.push_specs({"t1": spec()})
    s.run_once(s.config("w1", claim_lease="3s"))
    assert len(s.outbox("w1")) == 1

    claim = s.claim_json("t1")
    assert claim["phase"] == "publishing"
    time.sleep(max(0.0, claim["lease_expires"] - time.time()) + 0.2)
    s.run_once(s.config("w2", claim_lease="3s"))  # the lease is over, the result is not lost
    assert s.invocations() == ["t1.r1"]

    block.unlink()
    s.run_once(s.config("w1", claim_lease="3s"))
    assert s.results() == {"t1": "succeeded"}
    assert s.result("t1")["worker"]["id"] == "w1"
    assert s.invocations() == ["t1.r1"]
    assert s.claims() == []


# -- a long-running daemon -----------------------------------------------------------------------
def test_poke_makes_a_running_daemon_poll_now(s: Site) -> None:
    config = s.config("w1", poll_interval="120s")
    proc = s.start(config)
    wait_for(lambda: status_file(s, "w1"), 30, "the first poll")
    s.push_specs({"t1": spec()})

    user_cli(s, "poke", "--config", str(config))

    # Far sooner than the next scheduled poll (two minutes away).
    wait_for(lambda: s.results().get("t1"), 30, "the result after a poke")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0
    assert s.invocations() == ["t1.r1"]


def test_sigterm_interrupts_releases_with_attempts_and_another_worker_finishes(s: Site) -> None:
    config = s.config("w1", poll_interval="120s", shutdown_grace="1s")
    proc = s.start(config)
    wait_for(lambda: status_file(s, "w1"), 30, "the first poll")
    s.push_specs({"t1": spec(agent="hang-first")})
    user_cli(s, "poke", "--config", str(config))
    wait_for(lambda: agent_started(s), 30, "the agent to start")
    agents = wait_for(lambda: s.host_pids("t1.r1"), 10, "the agent's host pid")

    proc.send_signal(signal.SIGTERM)

    assert proc.wait(20) == 0
    assert not any(pid_alive(pid) for pid in agents)
    claim = s.claim_json("t1")
    assert (claim["phase"], claim["reason"]) == ("released", "interrupted")
    assert len(claim["carried_attempts"]) == 1

    s.run_once(s.config("w2"))

    result = s.result("t1")
    assert (result["status"], result["worker"]["id"]) == ("succeeded", "w2")
    assert len(result["attempts"]) == 2
    assert result["attempts"][0] == claim["carried_attempts"][0]
    assert s.invocations() == ["t1.r1", "t1.r1"]
    assert s.claims() == []


# -- cancel --------------------------------------------------------------------------------------
def test_cancel_stops_a_hanging_agent_and_records_cancelled(s: Site) -> None:
    s.push_specs({"t1": spec(agent="hang")})
    proc = s.start(s.config("w1", claim_lease="3s"), once=True)  # heartbeat: 1 s
    wait_for(lambda: agent_started(s), 30, "the agent to start")
    agents = wait_for(lambda: s.host_pids("t1.r1"), 10, "the agent's host pid")

    user_cli(s, "cancel", "t1", "--reason", "changed my mind")

    assert proc.wait(30) == 0
    assert not any(pid_alive(pid) for pid in agents)
    assert s.result("t1")["status"] == "cancelled"
    assert s.claims() == []
    assert s.invocations() == ["t1.r1"]


def test_cancel_before_start_never_runs_the_agent(s: Site) -> None:
    s.push_specs({"t1": spec()})
    user_cli(s, "cancel", "t1")

    s.run_once(s.config("w1"))

    result = s.result("t1")
    assert (result["status"], result["model_invoked"]) == ("cancelled", False)
    assert s.invocations() == []


def test_a_refused_result_is_not_pushed_every_poll(s: Site) -> None:
    install_hook(s.remote, "pre-receive", """#!/bin/sh
while read old new ref; do
  case "$ref" in refs/heads/mtor/*) echo "branch protection: no mtor/*" && exit 1;; esac
done
exit 0
""")
    s.push_specs({"t1": spec()})
    config = s.config("w1", poll_interval="1s")
    proc = s.start(config)
    wait_for(lambda: s.outbox("w1"), 30, "the refused result in the outbox")
    time.sleep(4)  # four polls
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0
    entry = json.loads(s.outbox("w1")[0].read_text())
    assert entry["tries"] <= 2, entry  # the refusal waits (30 s, doubling), it does not spin
    assert "branch protection" in entry["last_error"]
    assert entry["next_try_at"] > time.time()
