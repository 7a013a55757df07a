"""doctor judges the worker its config names: that worker's own status file (a state_dir used by
another worker before says whose file it found), and a cron worker (`daemon --once`) by its last
cycle against `schedule:`, never as "the daemon is not running"."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from daemonfixtures import DAEMON_ENV, site, spec

from mtor_git.config.load import load_config
from mtor_git.doctor.status import check_daemon
from mtor_git.worker.daemon import status_name


def _checks(config: Path, now: float | None = None) -> dict[str, tuple[str, str]]:
    return {c.name: (c.status, c.detail) for c in check_daemon(load_config(config), now=now)}


def test_another_workers_status_file_is_named_not_judged(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / "status.json").write_text(json.dumps({
        "worker_id": "someone-else", "pid": 4242, "host": "h", "heartbeat": 1.0,
        "stopped": True, "last_poll": 1.0, "last_error": None, "recent": []}))
    config = tmp_path / "config.yaml"
    config.write_text(f"worker_id: me\nstate_dir: {state}\nrepos: [{{url: {tmp_path}}}]\n"
                      "agents: {x: {command: [/bin/true]}}\n")
    checks = _checks(config)
    status, detail = checks["daemon heartbeat"]
    assert status == "warn"
    assert "someone-else" in detail and "me" in detail and "not running" not in detail
    assert checks["daemon polls"][0] == "skip"


def test_a_cron_worker_passes_after_a_successful_once_and_fails_when_cron_stops(
        tmp_path: Path) -> None:
    with site(tmp_path) as s:
        s.push_specs({"t1": spec()})
        config = s.config("cron", extra={"schedule": "1m"})
        s.run_once(config)
        assert s.results() == {"t1": "succeeded"}
        own = json.loads((s.state_dir("cron") / status_name("cron")).read_text())
        assert own["worker_id"] == "cron" and own["mode"] == "once" and own["stopped"]
        last = own["last_poll"]
        fresh = _checks(config, now=last + 30)
        assert fresh["daemon heartbeat"][0] == "pass", fresh["daemon heartbeat"]
        assert "not running" not in fresh["daemon heartbeat"][1]
        assert fresh["daemon polls"][0] == "pass"
        stale = _checks(config, now=last + 600)["daemon heartbeat"]
        assert stale[0] == "fail" and "schedule" in stale[1], stale


def test_per_worker_status_wins_over_the_shared_file(tmp_path: Path) -> None:
    with site(tmp_path) as s:
        config = s.config("w1")
        s.run_once(config)
        shared = s.state_dir("w1") / "status.json"
        data = json.loads(shared.read_text())
        shared.write_text(json.dumps({**data, "worker_id": "w2"}))  # a later worker's
        assert _checks(config)["daemon heartbeat"][0] == "pass"


def test_status_workers_shows_the_configs_own_worker(tmp_path: Path) -> None:
    with site(tmp_path) as s:
        config = s.config("w1")
        s.run_once(config)
        shared = s.state_dir("w1") / "status.json"
        shared.write_text(json.dumps({**json.loads(shared.read_text()), "worker_id": "w2"}))
        done = subprocess.run([sys.executable, "-m", "mtor_git", "status", "--workers",
                               "--config", str(config), "--json"], cwd=s.user, env=DAEMON_ENV,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["worker"]["worker_id"] == "w1"
