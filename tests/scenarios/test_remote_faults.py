"""The real daemon against a misbehaving remote (issue 16): a remote that refuses every push for
a while is not a rival worker, and a remote that never answers stalls no other repository."""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from daemonfixtures import COUNTING_AGENT, DAEMON_ENV, Site, mtor, site, spec, wait_for
from gitfixtures import install_hook

pytestmark = pytest.mark.slow

REFUSE_ALL = "#!/bin/sh\necho 'maintenance: pushes are closed'\nexit 1\n"


@pytest.fixture
def s(tmp_path: Path) -> Iterator[Site]:
    with site(tmp_path) as running:
        yield running


def sleeping_agent(s: Site, seconds: float) -> dict[str, Any]:
    """The counting agent, sleeping first, under a name of its own: a teardown that kills every
    `counting_agent` process it finds (another suite's, on a shared machine) must not end it."""
    sleeper = s.count_file.parent / "sleeper.py"  # a folder the sandbox shows
    if not sleeper.exists():
        shutil.copy2(COUNTING_AGENT, sleeper)
    return {"command": [str(sleeper), "--sleep", str(seconds)], "report": "claude-json",
            "env": {"COUNT_FILE": str(s.count_file)}}


def log_lines(s: Site, name: str, text: str) -> list[str]:
    log = s.root / "workers" / name / "daemon.log"
    return [line for line in log.read_text().splitlines() if text in line]


def test_a_remote_refusing_every_push_for_a_while_costs_no_second_run(s: Site) -> None:
    s.push_specs({"t1": spec()})
    config = s.config("w1", default_agent="long", claim_lease="3s", poll_interval="2s",
                      extra={"agents": {"long": sleeping_agent(s, 5)}})
    proc = s.start(config)
    wait_for(lambda: s.invocations(), 30, "the agent to start")
    hook = install_hook(s.remote, "pre-receive", REFUSE_ALL)  # renewals (1 s) now refused

    wait_for(lambda: s.outbox("w1"), 30, "the result to wait in the outbox")
    time.sleep(4)  # the lease (3 s) lapses unrenewed; a few more polls are refused
    assert "refs/heads/mtor/t1" not in s.refs()
    assert s.claim_json("t1")["worker"] == "w1"  # nobody else could take it
    hook.unlink()
    reopened = time.monotonic()

    wait_for(lambda: "refs/heads/mtor/t1" in s.refs(), 2 + 1 + 3,
             "the result, one poll (2 s, jitter 1 s) after the remote accepts again")
    took = time.monotonic() - reopened
    wait_for(lambda: not s.outbox("w1"), 10, "the outbox to empty")
    wait_for(lambda: not s.claims(), 10, "the claim to be deleted")
    time.sleep(3)  # a run started now by a worker that thought the claim lost would show
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0

    assert s.invocations() == ["t1.r1"], "the agent ran twice"
    assert s.result("t1")["status"] == "succeeded"
    assert log_lines(s, "w1", "lost the claim") == []
    print(f"result pushed {took:.1f}s after the remote accepted pushes again")



# -- a remote that accepts and never answers ------------------------------------------------------
class TarPit:
    """A TCP server on loopback that accepts every connection and never says a word."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = int(self.sock.getsockname()[1])
        self.held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)

    @property
    def url(self) -> str:
        return f"git://127.0.0.1:{self.port}/silent.git"

    def close(self) -> None:
        self.sock.close()
        for conn in self.held:
            conn.close()


@pytest.fixture
def pit() -> Iterator[TarPit]:
    server = TarPit()
    try:
        yield server
    finally:
        server.close()


def status_of(s: Site, name: str) -> dict[str, Any] | None:
    try:
        data: dict[str, Any] = json.loads((s.state_dir(name) / "status.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return data if data.get("last_poll") else None


def test_a_silent_remote_listed_first_does_not_delay_a_healthy_one(s: Site, pit: TarPit) -> None:
    config = s.config("w1", poll_interval="2s", extra={
        "transfer_timeout": "5s",
        "repos": [{"url": pit.url, "name": "silent"}, {"url": s.url, "name": "healthy"}]})
    proc = s.start(config)
    wait_for(lambda: (s.root / "workers/w1/ws/healthy/repo.git").exists(), 30,
             "the healthy repository's clone")
    wait_for(lambda: pit.url in ((status_of(s, "w1") or {}).get("last_error") or ""), 30,
             "the silent remote named in the status file")

    pushed = time.monotonic()
    s.push_specs({"t1": spec()})
    wait_for(lambda: s.invocations(), 2 + 1 + 2, "the task to start within poll_interval + 2 s")
    print(f"the healthy repository's task started {time.monotonic() - pushed:.1f}s after the push")
    wait_for(lambda: "refs/heads/mtor/t1" in s.refs(), 30, "the result")

    shown = subprocess.run(mtor("status", "--workers", "--config", str(config)), cwd=s.root,
                           env=DAEMON_ENV, capture_output=True, text=True, timeout=60)
    assert pit.url in shown.stdout, shown.stdout
    doctor = subprocess.run(mtor("doctor", "--config", str(config)), cwd=s.root,
                            env=DAEMON_ENV, capture_output=True, text=True, timeout=120)
    assert pit.url in doctor.stdout, doctor.stdout
    stopping = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(60) == 0
    print(f"doctor took {stopping - pushed:.1f}s all told; stop {time.monotonic() - stopping:.1f}s")
