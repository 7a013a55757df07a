"""`mtor-git doctor`: every problem of a broken setup named, a good setup passing, probes judged by
the real classifier, and a daemon judged by its status file (heartbeat and recent outcomes).

Real git remotes in tmp_path, real agent subprocesses (tests/fake_agents), real daemons."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pygit2
import pytest
from gitfixtures import GitDaemon, git, install_hook, make_bare_remote
from hypothesis import given
from hypothesis import strategies as st
from sandboxfixtures import with_toolchain

from mtor_git.config.load import load_config
from mtor_git.doctor.run import DoctorOptions, DoctorReport, run_doctor
from mtor_git.doctor.status import (
    UNHEALTHY_FAILURES,
    WINDOW,
    Outcome,
    check_daemon,
    check_heartbeat,
    judge_outcomes,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
AGENTS = REPO_ROOT / "tests" / "fake_agents"
VERSIONED = AGENTS / "versioned_agent.py"
VAR = "MTOR_DOCTOR_TOKEN"


# -- a worker setup in tmp_path --------------------------------------------------------------
def write_config(tmp_path: Path, *, agents: dict[str, Any] | None = None,
                 repos: list[str] | None = None, **extra: Any) -> Path:
    if repos is None:
        repos = [str(make_bare_remote(tmp_path / "remote.git"))]
    data = {"worker_id": "doc-test", "workspace": str(tmp_path / "ws"),
            "state_dir": str(tmp_path / "state"), "runtime_dir": str(tmp_path / "run"),
            "poll_interval": "1s", "repos": [{"url": u} for u in repos],
            "agents": agents or {"fake": agent("success")},
            "retry": {"min_model_call": "0s"}, "log": {"file": str(tmp_path / "log" / "d.log")},
            **extra}
    path = tmp_path / "config.yaml"
    path.write_text(json.dumps(data))  # JSON is YAML
    return path


def agent(mode: str, *, binary: Path | str = VERSIONED, **extra: Any) -> dict[str, Any]:
    return with_toolchain({"command": [str(binary), mode], "report": "claude-json",
                           "requires_env": [VAR], **extra})


def write_env(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "mtor-git.env"
    path.write_text("\n".join([*lines, f"PATH={os.environ['PATH']}"]) + "\n")
    path.chmod(0o600)
    return path


def doctor(config: Path, *, env_file: Path | None = None, probe: bool = False,
           environ: dict[str, str] | None = None) -> dict[str, Any]:
    """Run the library; {check name: Check}."""
    report = run_doctor(DoctorOptions(config_path=config, env_file=env_file, probe=probe,
                                      environ=environ or _shell()))
    return {c.name: c for c in report.checks} | {"__report__": report}


def _shell(**extra: str) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "USER")} | extra


def cli(*args: str | Path) -> tuple[int, str]:
    proc = subprocess.run([sys.executable, "-m", "mtor_git", "doctor", *map(str, args)],
                          capture_output=True, text=True, timeout=120,
                          env={**_shell(), "PYTHONPATH": str(REPO_ROOT)})
    return proc.returncode, proc.stdout


# -- broken and good setups, end to end ------------------------------------------------------
def test_broken_setup_names_each_problem(tmp_path: Path) -> None:
    config = write_config(tmp_path, agents={"fake": agent("success"),
                                            "gone": agent("success", binary="mtor-no-such-cli")},
                          repos=[str(tmp_path / "nowhere.git")])
    env = write_env(tmp_path, f"export {VAR}=abc")
    code, out = cli("--config", config, "--env-file", env, "--json")
    data = json.loads(out)
    checks = {c["name"]: c for c in data["checks"]}
    assert code == 1 and data["ok"] is False
    assert checks["env file"]["status"] == "fail" and "export" in checks["env file"]["detail"]
    token = checks[f"env {VAR}"]
    assert token["status"] == "fail" and "line 1" in token["detail"]
    assert "without `export`" in token["hint"]
    assert checks["agent gone"]["status"] == "fail"
    assert "mtor-no-such-cli" in checks["agent gone"]["detail"]
    assert checks["repo nowhere"]["status"] == "fail"
    assert checks["agent fake"]["status"] == "pass"


def test_json_has_the_documented_shape(tmp_path: Path) -> None:
    code, out = cli("--config", write_config(tmp_path), "--json")
    data = json.loads(out)
    assert set(data) == {"version", "checks", "ok"} and data["version"] == 1
    for check in data["checks"]:
        assert set(check) == {"name", "status", "detail", "hint"}
        assert check["status"] in ("pass", "fail", "warn", "skip")
    assert data["ok"] is (code == 0)


def test_text_output_has_a_line_and_a_fix_per_failure(tmp_path: Path) -> None:
    config = write_config(tmp_path, repos=[str(tmp_path / "nowhere.git")])
    code, out = cli("--config", config, "--env-file", write_env(tmp_path, f"export {VAR}=abc"))
    assert code == 1
    assert f"FAIL  env {VAR}: " in out and "FAIL  repo nowhere: " in out
    assert out.count("fix: ") >= 3
    assert out.strip().splitlines()[-1].startswith("doctor: ")
    assert "not ready" in out.strip().splitlines()[-1]


def test_good_setup_passes(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    code, out = cli("--config", config, "--env-file", write_env(tmp_path, f"{VAR}=abc"),
                    "--json")
    data = json.loads(out)
    statuses = {c["name"]: c["status"] for c in data["checks"]}
    assert code == 0 and data["ok"] is True, out
    for name in ("config", "env file", f"env {VAR}", "agent fake", "repo remote", "clock"):
        assert statuses[name] == "pass", (name, out)
    for name in ("workspace", "state dir", "log file"):
        assert statuses[name] in ("pass", "warn")  # warn: a small CI disk
    assert statuses["daemon heartbeat"] == "skip"  # no daemon ran: not claimed healthy
    assert statuses["probe fake"] == "skip"
    assert git("for-each-ref", "refs/mtor", cwd=tmp_path / "remote.git") == ""  # scratch gone


def test_unchecked_items_say_skip_with_the_reason(tmp_path: Path) -> None:
    checks = doctor(write_config(tmp_path), environ=_shell(**{VAR: "x"}))
    assert checks["env file"].status == "skip" and "--env-file" in checks["env file"].detail
    assert checks["probe fake"].status == "skip" and "--probe" in checks["probe fake"].detail
    assert "no status file" in checks["daemon heartbeat"].detail


# -- the environment the daemon really gets --------------------------------------------------
def test_token_in_the_shell_but_exported_in_the_env_file_is_missing(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    env = write_env(tmp_path, f"export {VAR}=abc")
    shell = _shell(**{VAR: "abc"})
    assert doctor(config, environ=shell)[f"env {VAR}"].status == "pass"
    assert doctor(config, env_file=env, environ=shell)[f"env {VAR}"].status == "fail"


def test_config_naming_an_unset_variable_fails_and_the_rest_still_runs(tmp_path: Path) -> None:
    config = write_config(tmp_path, agents={"fake": agent("success",
                                                          env={"API_KEY": "${" + VAR + "}"})})
    checks = doctor(config, env_file=write_env(tmp_path, f"export {VAR}=abc"))
    assert checks["config"].status == "fail" and VAR in checks["config"].detail
    assert checks["agent fake"].status == "pass"
    assert checks["probe"].status == "skip"


def test_invalid_config_fails_and_skips_what_depends_on_it(tmp_path: Path) -> None:
    config = write_config(tmp_path, pol_interval="1s")
    checks = doctor(config)
    report: DoctorReport = checks["__report__"]
    assert checks["config"].status == "fail" and "pol_interval" in checks["config"].detail
    assert checks["agents"].status == "skip" and checks["repos"].status == "skip"
    assert not report.ok


# -- agent binaries --------------------------------------------------------------------------
def test_agent_that_does_not_answer_version_fails(tmp_path: Path) -> None:
    config = write_config(tmp_path, agents={"raw": agent("success",
                                                         binary=AGENTS / "fake_agent.py")})
    check = doctor(config, environ=_shell(**{VAR: "x"}))["agent raw"]
    assert check.status == "fail" and "--version" in check.detail and "exited" in check.detail


# -- repositories ----------------------------------------------------------------------------
def test_push_refused_by_the_server_is_reported(tmp_path: Path, bare_remote: Path,
                                                daemon: GitDaemon) -> None:
    install_hook(bare_remote, "pre-receive", "#!/bin/sh\nwhile read old new ref; do\n"
                 "  case $ref in refs/mtor/doctor/*) echo 'no doctor refs here' >&2; exit 1;;"
                 " esac\ndone\n")
    config = write_config(tmp_path, repos=[daemon.url(bare_remote)])
    check = doctor(config, environ=_shell(**{VAR: "x"}))["repo remote"]
    assert check.status == "fail" and "refused" in check.detail
    assert "refs/mtor/doctor/doc-test-" in check.detail


def test_missing_branch_is_reported(tmp_path: Path) -> None:
    remote = make_bare_remote(tmp_path / "remote.git", branch="trunk")
    check = doctor(write_config(tmp_path, repos=[str(remote)]))["repo remote"]
    assert check.status == "fail" and "no branch 'main'" in check.detail


def test_commit_from_the_future_warns_about_the_clock(tmp_path: Path) -> None:
    remote = make_bare_remote(tmp_path / "remote.git")
    repo = pygit2.Repository(str(remote))
    future = pygit2.Signature("Someone", "s@example.org", int(time.time()) + 86400, 0)
    head = repo.references["refs/heads/main"].peel(pygit2.Commit)
    repo.create_commit("refs/heads/main", future, future, "from tomorrow", head.tree_id,
                       [head.id])
    check = doctor(write_config(tmp_path, repos=[str(remote)]))["clock"]
    assert check.status == "warn" and "in the future" in check.detail


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_workspace_fails(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    check = doctor(write_config(tmp_path, workspace=str(locked / "ws")))["workspace"]
    assert check.status == "fail"


# -- probes ----------------------------------------------------------------------------------
def test_probe_of_a_working_agent_passes(tmp_path: Path) -> None:
    check = doctor(write_config(tmp_path), probe=True, environ=_shell(**{VAR: "x"}))
    assert check["probe fake"].status == "pass"
    assert "model invoked: yes" in check["probe fake"].detail


def test_probe_of_an_agent_answering_401_fails_with_kind_auth(tmp_path: Path) -> None:
    config = write_config(tmp_path, agents={"fake": agent("401")})
    code, out = cli("--config", config, "--env-file", write_env(tmp_path, f"{VAR}=abc"),
                    "--probe", "--json")
    probe = {c["name"]: c for c in json.loads(out)["checks"]}["probe fake"]
    assert code == 1
    assert probe["status"] == "fail" and probe["detail"].startswith("kind auth")
    assert "token" in probe["hint"]


# -- the daemon's status file ----------------------------------------------------------------
def _status(tmp_path: Path, config: Path, **fields: Any) -> None:
    now = time.time()
    data = {"version": "0", "worker_id": "doc-test", "pid": os.getpid(),
            "host": socket.gethostname(), "started_at": now - 60, "heartbeat": now,
            "stopped": False, "last_poll": now, "last_error": None, "running": [],
            "recent": [], "breakers": {}} | fields
    state = load_config(config).state_dir
    state.mkdir(parents=True, exist_ok=True)
    (state / "status.json").write_text(json.dumps(data))


def _outcome(task: str, status: str, **fields: Any) -> dict[str, Any]:
    return {"task": task, "run": 1, "status": status, "at": time.time()} | fields


def test_burst_of_fast_failures_is_unhealthy_while_the_process_is_up(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    fast = {"kind": "empty_failure", "duration": 0.3, "model_invoked": False, "attempts": 1}
    _status(tmp_path, config, recent=[_outcome("a", "succeeded"), _outcome("b", "failed", **fast),
                                      _outcome("c", "succeeded"), _outcome("d", "failed", **fast),
                                      _outcome("e", "rejected", **fast)])
    checks = {c.name: c for c in check_daemon(load_config(config))}
    assert checks["daemon heartbeat"].status == "pass"
    outcomes = checks["daemon outcomes"]
    assert outcomes.status == "fail" and "3 of the last 5" in outcomes.detail
    assert "pipeline" in outcomes.detail


def test_open_breaker_is_unhealthy(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    _status(tmp_path, config, breakers={"fake": {"state": "open", "consecutive_failures": 5,
                                                 "last_kind": "rate_limited"}})
    check = {c.name: c for c in check_daemon(load_config(config))}["daemon outcomes"]
    assert check.status == "fail" and "rate_limited" in check.detail


def test_daemon_once_with_an_instantly_failing_agent_is_reported_unhealthy(
        tmp_path: Path) -> None:
    spec = b"---\ntitle: poison\n---\nDo something.\n"
    remote = make_bare_remote(tmp_path / "remote.git",
                              files={f"tasks/t{i}.md": spec for i in range(3)})
    config = write_config(tmp_path, repos=[str(remote)],
                          agents={"fake": agent("silent-fail")})
    proc = subprocess.run([sys.executable, "-m", "mtor_git", "daemon", "--once", "--config",
                           str(config)], capture_output=True, text=True, timeout=120,
                          env={**_shell(**{VAR: "x"}), "PYTHONPATH": str(REPO_ROOT)})
    assert proc.returncode == 0, proc.stderr
    checks = {c.name: c for c in check_daemon(load_config(config))}
    assert checks["daemon heartbeat"].status == "pass"  # --once: judged by its last cycle
    outcomes = checks["daemon outcomes"]
    assert outcomes.status == "fail" and "3 of the last 3" in outcomes.detail
    assert "empty_failure" in outcomes.detail and "pipeline is failing" in outcomes.detail


def test_live_daemon_heartbeat_passes_then_fails_once_it_is_killed(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    proc = subprocess.Popen([sys.executable, "-m", "mtor_git", "daemon", "--config",
                             str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**_shell(**{VAR: "x"}), "PYTHONPATH": str(REPO_ROOT)})
    status = tmp_path / "state" / "status.json"
    try:
        deadline = time.monotonic() + 30
        while not status.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        live = {c.name: c for c in check_daemon(load_config(config))}
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    assert live["daemon heartbeat"].status == "pass"
    assert live["daemon polls"].status == "pass"
    data = json.loads(status.read_text())
    later = check_heartbeat(data, poll_interval=1.0, now=data["heartbeat"] + 10)
    assert later.status == "fail" and "not running or stuck" in later.detail
    assert "no longer exists" in later.detail


_STATUSES = st.sampled_from(["succeeded", "failed", "rejected", "exhausted", "cancelled"])


@given(st.lists(_STATUSES, max_size=12))
def test_outcomes_are_unhealthy_exactly_when_enough_recent_tasks_failed(
        statuses: list[str]) -> None:
    verdict, _ = judge_outcomes([Outcome(task=f"t{i}", status=s)
                                 for i, s in enumerate(statuses)])
    bad = sum(s in ("failed", "rejected", "exhausted") for s in statuses[-WINDOW:])
    expected = ("skip" if not statuses else "fail" if bad >= UNHEALTHY_FAILURES
                else "warn" if bad else "pass")
    assert verdict == expected
