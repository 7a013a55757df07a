"""Hostile agents against the real daemon over `git daemon`, each attempt in the bubblewrap sandbox
(issue #12 rows F5, F7, F8): the daemon's environment and files stay out of reach, nothing of an
attempt outlives it, a killed daemon leaves no agent behind.

Each test fails with `sandbox: none` (the behaviour before the sandbox): F5 pushes the canary,
F7 lets the orphan finish beside its rerun, F8 commits the lingering child's writes."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from daemonfixtures import Site, site, spec, wait_for
from gitfixtures import GIT_ENV, git
from hostilefixtures import daemon_log, run_daemon_once, worker_config

from mtor_git.agent.sandbox import find_bwrap

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(find_bwrap() is None, reason="bubblewrap is not installed")]

HOSTILE = Path(__file__).resolve().parents[1] / "fake_agents" / "hostile_agent.py"
CANARY_VAR = "MTOR_DAEMON_ONLY_CANARY"  # in the daemon's environment, passed to no agent
CANARY = "canary-5d1e0c7a9b2f4e66"
SANDBOX = "bwrap"  # set to "none" to see each test fail as it did before the sandbox


@pytest.fixture
def s(tmp_path: Path) -> Iterator[Site]:
    with site(tmp_path) as running:
        yield running


def hostile(*args: str, **extra: Any) -> dict[str, Any]:
    return {"command": [str(HOSTILE), *args], "report": "claude-json", **extra}


def config(s: Site, agents: dict[str, dict[str, Any]], default: str, **extra: Any) -> Path:
    return worker_config(s, "w1", agents, default_agent=default, retry={"max_attempts": 1},
                         sandbox=SANDBOX, **extra)


def all_objects(remote: Path) -> bytes:
    """Every object the remote holds, reachable or not."""
    return subprocess.run(["git", "cat-file", "--batch-all-objects", "--batch"], cwd=remote,
                          capture_output=True, env=GIT_ENV, timeout=60, check=True).stdout


def alive(s: Site) -> list[int]:
    """Host pids of live hostile agents of this site (by command line and working directory:
    another test's agents, or a recycled pid, are never taken for ours)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if not entry.name.isdigit() or str(HOSTILE) not in (entry / "cmdline").read_text(
                    errors="replace"):
                continue
            if not os.readlink(entry / "cwd").startswith(str(s.root.resolve())):
                continue
            if (entry / "stat").read_text().rsplit(")", 1)[1].split()[0] not in "ZX":
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def kill_leftovers(s: Site) -> None:
    for pid in alive(s):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


# -- F5 ------------------------------------------------------------------------------------------
def test_f5_an_agent_reading_its_ancestors_environ_finds_nothing_of_the_daemon(s: Site) -> None:
    agents = {"snoop": hostile("environ", "--grep", "CANARY")}
    cfg = config(s, agents, "snoop")
    s.push_specs({"t1": spec()})

    run_daemon_once(s, cfg, env={CANARY_VAR: CANARY})

    result = s.result("t1")
    assert (result["status"], result["sandbox"]) == ("succeeded", SANDBOX)
    stolen = git("show", "mtor/t1:STOLEN.txt", cwd=s.remote)
    assert "/proc/1/environ" in stolen  # it did look, up to the sandbox's init
    assert CANARY not in stolen
    assert CANARY.encode() not in all_objects(s.remote)
    assert CANARY not in daemon_log(s, "w1")


def test_f5_the_agent_cannot_read_the_worker_files(s: Site) -> None:
    workers = s.root / "workers" / "w1"
    workspace = workers / "ws"  # the clone, other tasks' checkouts
    targets = [workers / "config.yaml", workers / "daemon.log", workers / "state", workspace]
    agents = {"snoop": hostile("environ", "--read", ":".join(map(str, targets)),
                               "--grep", r"canary|claim_lease|repo\.git|DEBUG")}
    cfg = config(s, agents, "snoop")
    cfg.write_text(cfg.read_text() + f"\n# {CANARY}\n")  # a secret only the config file holds
    s.push_specs({"t1": spec()})

    run_daemon_once(s, cfg)

    assert s.result("t1")["status"] == "succeeded"
    stolen = git("show", "mtor/t1:STOLEN.txt", cwd=s.remote)
    assert "== " + str(workspace) in stolen  # it did try
    assert CANARY not in stolen and "claim_lease" not in stolen  # no line of the config
    assert "DEBUG" not in stolen  # nor of the daemon's log
    assert "repo.git" not in stolen  # the workspace shows not even the clone's name
    assert CANARY.encode() not in all_objects(s.remote)


# -- F7 ------------------------------------------------------------------------------------------
def test_f7_a_sigkilled_daemon_leaves_no_agent_and_the_rerun_runs_alone(s: Site) -> None:
    counts = s.count_file.parent / "slow.log"
    agents = {"slow": hostile("slow", "--sleep", "15", env={"COUNT_FILE": str(counts)})}
    cfg = config(s, agents, "slow", claim_lease="60s")
    s.push_specs({"t1": spec()})
    daemon = s.start(cfg, once=True)
    wait_for(lambda: counts.exists() and "start" in counts.read_text(), 30, "the agent to start")
    try:
        os.kill(daemon.pid, signal.SIGKILL)  # the daemon alone, not its process group
        daemon.wait(10)
        wait_for(lambda: not alive(s), 3, "the orphaned agent to be gone")

        run_daemon_once(s, cfg)  # the same worker again: it reruns its own claim

        lines = counts.read_text().split()
        assert lines.count("start") == 2 and lines.count("done") == 1
        assert s.result("t1")["status"] == "succeeded"
        # the killed run's private HOME/TMPDIR were swept at the restart, the rerun's removed
        assert list((s.root / "workers" / "w1" / "ws" / ".attempts").iterdir()) == []
    finally:
        kill_leftovers(s)


# -- F8 ------------------------------------------------------------------------------------------
def test_f8_a_setsid_child_is_killed_and_its_later_writes_never_committed(s: Site) -> None:
    cfg = config(s, {"linger": hostile("linger", "--sleep", "1")}, "linger")
    s.push_specs({"t1": spec()})
    try:
        run_daemon_once(s, cfg)
        time.sleep(0.5)
        assert alive(s) == []
    finally:
        kill_leftovers(s)

    assert s.result("t1")["status"] == "succeeded"
    exited = float(git("show", "mtor/t1:AGENT_EDIT.md", cwd=s.remote))
    late = subprocess.run(["git", "show", "mtor/t1:LATE.txt"], cwd=s.remote, env=GIT_ENV,
                          capture_output=True, text=True).stdout
    # Its last write may fall in the moment between the agent's clock reading and its exit.
    assert [t for t in late.split() if float(t) > exited + 0.2] == []


def test_f8_with_a_timeout_the_result_is_timeout_not_internal_error(s: Site) -> None:
    cfg = config(s, {"linger": hostile("linger", "--sleep", "30")}, "linger")
    s.push_specs({"t1": spec(timeout="3s")})
    try:
        run_daemon_once(s, cfg)
        assert alive(s) == []
    finally:
        kill_leftovers(s)

    result = s.result("t1")
    assert result["failure"]["kind"] == "timeout", result["failure"]
    assert result["attempts"][0]["stopped_by"] == "timeout"
    assert result["sandbox"] == SANDBOX
