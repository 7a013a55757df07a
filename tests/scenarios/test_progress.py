"""Progress you can watch: while a task runs, the worker publishes the agent's running totals in
the claim (`claim.json` `progress`), and `mtor-git watch` (human and `--json`) and `status <id>`
show its turns and cost, turn by turn. The real worker in process against a remote over
`git daemon`, a fake Claude CLI that prints stream-json slowly (tests/fake_agents/stream_agent.py),
the CLI as a subprocess."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from daemonfixtures import DAEMON_ENV, Site, mtor, site, spec

from mtor_git.config.load import load_config
from mtor_git.worker.cycle import Worker

STREAM_AGENT = Path(__file__).resolve().parent.parent / "fake_agents" / "stream_agent.py"
TURNS = 4


@pytest.fixture
def s(tmp_path: Path) -> Iterator[Site]:
    with site(tmp_path) as running:
        yield running


def _worker(s: Site) -> Worker:
    agent = {"command": [sys.executable, str(STREAM_AGENT), "--turns", str(TURNS),
                         "--delay", "2", "--cost", "0.05"],
             "report": "claude-stream-json"}
    config = s.config("w1", default_agent="stream", claim_lease="3s",
                      extra={"agents": {"stream": agent}})
    return Worker(load_config(config), DAEMON_ENV)


def _watch(s: Site, *flags: str) -> subprocess.Popen[str]:
    return subprocess.Popen(mtor("watch", "t1", "--interval", "0.3", "--timeout", "120",
                                 *flags), cwd=s.user, env=DAEMON_ENV, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _running_progress(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [t["claim"]["progress"] for t in (line["task"] for line in lines)
            if t["state"] == "running" and t["claim"] and t["claim"]["progress"]]


def test_watch_shows_turns_and_cost_of_a_running_task_turn_by_turn(s: Site) -> None:
    s.push_specs({"t1": spec()})
    w = _worker(s)
    human, as_json = _watch(s), _watch(s, "--json")
    try:
        assert w.cycle() == 1
        status_seen = ""
        deadline = time.monotonic() + 60
        while w.busy() and time.monotonic() < deadline:
            out = subprocess.run(mtor("status", "t1"), cwd=s.user, env=DAEMON_ENV, text=True,
                                 capture_output=True, timeout=60, check=False).stdout
            if "(last Edit step" in out:
                status_seen = out
                break
            time.sleep(0.3)
        while w.busy():
            w.wake.wait(0.2)
        text, _ = human.communicate(timeout=120)
        raw, _ = as_json.communicate(timeout=120)
    finally:
        for proc in (human, as_json):
            if proc.poll() is None:
                proc.kill()
        w.stop(5)
    assert s.results() == {"t1": "succeeded"}
    lines = [json.loads(line) for line in raw.splitlines() if line]
    assert all("task" in line for line in lines), (lines, text)  # no error object: which one
    progress = _running_progress(lines)
    turns = [p["turns"] for p in progress]
    assert len(set(turns)) >= 2, progress  # more than one turn seen while it ran
    assert turns == sorted(turns) and max(turns) <= TURNS
    last = progress[-1]
    assert last["cost_usd"] > 0 and last["cost_estimated"] is True  # from tokens, mid-session
    assert last["last_tool"] == "Edit" and last["last_file"].startswith("step")
    assert last["attempt"] == 1 and last["tool_calls"] >= 1
    running = [line for line in text.splitlines() if " running " in line]
    shown_turns = {int(m) for line in running for m in re.findall(r"; turn (\d+),", line)}
    assert len(shown_turns - {0}) >= 2, text  # turn by turn (a busy machine may skip one)
    assert any("$0.0" in line for line in running), text
    assert "tool call" in status_seen and "$" in status_seen, status_seen
    history = subprocess.run(mtor("history", "t1"), cwd=s.user, env=DAEMON_ENV, text=True,
                             capture_output=True, timeout=60, check=True).stdout
    assert f"{TURNS} turns, {TURNS} tool calls, $0.0500" in history, history
    assert "Edit step1.txt" in history and f"Edit step{TURNS}.txt" in history, history


def test_a_claim_without_progress_reads_as_none(s: Site) -> None:
    from mtor_git.queue.claims import Claim

    raw = json.dumps({"task_id": "t1", "run": 1, "worker": "w", "host": "h", "pid": 1,
                      "phase": "running", "heartbeat": 1.0, "lease_expires": 2.0,
                      "progress": "not an object"}).encode()
    claim = Claim.from_bytes(raw)
    assert claim is not None and claim.progress is None
