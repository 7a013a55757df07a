"""The daemon refuses to start, fast and in one line, when the environment systemd will really give
it lacks a required variable: exit 78, which the unit's RestartPreventExitStatus=78 turns into a
stopped service instead of the incident's 30,989 restarts.

Each daemon is a real `python -m mtor_git daemon` subprocess started with exactly the environment
under test; for env files, that environment is the file as systemd parses it (envfile).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from gitfixtures import make_bare_remote
from sandboxfixtures import with_toolchain

from mtor_git.config.envfile import parse_env_file

REPO_ROOT = Path(__file__).resolve().parents[2]
AGENT = REPO_ROOT / "tests" / "fake_agents" / "versioned_agent.py"
VAR = "MTOR_STARTUP_TOKEN"
SECRET = "s3cret-value-never-printed"
EXIT_CONFIG = 78
START_LIMIT = 2.0  # seconds: the acceptance bound for refusing to start


def write_config(tmp_path: Path, *, agent: dict[str, Any] | None = None) -> Path:
    remote = make_bare_remote(tmp_path / "remote.git")
    profile = with_toolchain(agent or {"command": [str(AGENT), "success"],
                                       "report": "claude-json", "requires_env": [VAR]})
    data = {"worker_id": "startup-test", "workspace": str(tmp_path / "ws"),
            "state_dir": str(tmp_path / "state"), "runtime_dir": str(tmp_path / "run"),
            "poll_interval": "1s", "repos": [{"url": str(remote)}], "agents": {"fake": profile},
            "log": {"file": str(tmp_path / "daemon.log")}}
    path = tmp_path / "config.yaml"
    path.write_text(json.dumps(data))  # JSON is YAML
    return path


def env_file(tmp_path: Path, *lines: str) -> Path:
    """A systemd EnvironmentFile; it carries PYTHONPATH so that the daemon's environment can be
    exactly the file's values and still import this checkout."""
    path = tmp_path / "mtor-git.env"
    path.write_text("\n".join([*lines, f"PYTHONPATH={REPO_ROOT}"]) + "\n")
    path.chmod(0o600)
    return path


def start(config: Path, environ: Mapping[str, str]) -> tuple[int, str, float]:
    """(exit code, stderr, seconds) of a daemon that must exit on its own within START_LIMIT."""
    began = time.monotonic()
    try:
        proc = subprocess.run([sys.executable, "-m", "mtor_git", "daemon", "--config",
                               str(config)], env=dict(environ), capture_output=True, text=True,
                              timeout=START_LIMIT, cwd=config.parent)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the daemon did not exit within {START_LIMIT} s")
    return proc.returncode, proc.stderr, time.monotonic() - began


def assert_refused_naming(result: tuple[int, str, float], name: str) -> None:
    code, stderr, elapsed = result
    assert code == EXIT_CONFIG, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert name in lines[0]
    assert SECRET not in stderr
    assert elapsed < START_LIMIT


def test_missing_required_variable_exits_78_naming_it(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    result = start(config, {"PYTHONPATH": str(REPO_ROOT)})
    assert_refused_naming(result, VAR)


def test_export_line_in_env_file_exits_78_naming_it(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    loaded = parse_env_file(env_file(tmp_path, f"export {VAR}={SECRET}"))
    assert VAR not in loaded.values  # systemd drops the line: the service starts without it
    result = start(config, loaded.values)
    assert_refused_naming(result, VAR)


def test_config_reference_to_unset_variable_exits_78_naming_it(tmp_path: Path) -> None:
    config = write_config(tmp_path, agent={"command": [str(AGENT), "success"],
                                           "env": {"API_KEY": "${" + VAR + "}"}})
    loaded = parse_env_file(env_file(tmp_path, f"export {VAR}={SECRET}"))
    assert_refused_naming(start(config, loaded.values), VAR)


def test_missing_agent_binary_exits_78_naming_it(tmp_path: Path) -> None:
    config = write_config(tmp_path, agent={"command": ["mtor-no-such-agent-binary", "-p"]})
    loaded = parse_env_file(env_file(tmp_path, "PATH=/usr/bin:/bin"))
    assert_refused_naming(start(config, loaded.values), "mtor-no-such-agent-binary")


def test_same_env_file_without_export_starts_the_daemon(tmp_path: Path) -> None:
    """The control: the very same line without `export` gives a running daemon, which writes its
    status file and stops cleanly on SIGTERM."""
    config = write_config(tmp_path)
    loaded = parse_env_file(env_file(tmp_path, f"{VAR}={SECRET}"))
    status = tmp_path / "state" / "status.json"
    proc = subprocess.Popen([sys.executable, "-m", "mtor_git", "daemon", "--config",
                             str(config)], env=dict(loaded.values), cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        data = _wait_for_status(status, proc)
        assert data["pid"] == proc.pid and data["stopped"] is False
        assert data["worker_id"] == "startup-test"
        assert isinstance(data["heartbeat"], float)
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, stderr
    assert json.loads(status.read_text())["stopped"] is True
    assert SECRET not in stderr


def _wait_for_status(path: Path, proc: subprocess.Popen[str]) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the daemon exited {proc.returncode}: {proc.communicate()[1]}")
        if path.exists():
            data: dict[str, Any] = json.loads(path.read_text())
            return data
        time.sleep(0.05)
    pytest.fail("the daemon wrote no status file within 30 s")
