"""One daemon per state dir (and so per workspace): a second one refuses to start, exit 78."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from daemonfixtures import DAEMON_ENV, Site, mtor, site, wait_for


@pytest.fixture
def s(tmp_path: Path) -> Iterator[Site]:
    with site(tmp_path) as built:
        yield built


def test_a_second_daemon_on_the_same_state_dir_exits_78(s: Site) -> None:
    config = s.config("w1")
    first = s.start(config)
    wait_for(lambda: (s.state_dir("w1") / "daemon.lock").exists(), 30, "the first daemon")
    second = subprocess.run(mtor("daemon", "--once", "--config", str(config)), env=DAEMON_ENV,
                            capture_output=True, text=True, timeout=60, cwd=s.root)
    assert second.returncode == 78, second.stderr
    assert "already uses" in second.stderr and f"pid {first.pid}" in second.stderr
    assert first.poll() is None  # the first one is untouched


def test_a_killed_daemon_leaves_no_stale_lock(s: Site) -> None:
    config = s.config("w1")
    first = s.start(config)
    wait_for(lambda: (s.state_dir("w1") / "daemon.lock").exists(), 30, "the first daemon")
    first.kill()
    first.wait(30)
    again = subprocess.run(mtor("daemon", "--once", "--config", str(config)), env=DAEMON_ENV,
                           capture_output=True, text=True, timeout=60, cwd=s.root)
    assert again.returncode == 0, again.stderr
