"""The sandbox setting at daemon start, through the real `mtor-git daemon --once` subprocess:
`sandbox: bwrap` without bwrap refuses to start (exit 78, one line); no `sandbox:` line without
bwrap runs as the documented `none`, said at start and recorded in every result; a program the
sandbox would hide refuses to start naming `sandbox_paths`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from daemonfixtures import DAEMON_ENV, Site, mtor, site, spec
from hostilefixtures import daemon_log

from mtor_git.agent.sandbox import find_bwrap

EXIT_CONFIG = 78


@pytest.fixture
def s(tmp_path: Path) -> Iterator[Site]:
    with site(tmp_path) as running:
        yield running


def path_without_bwrap(root: Path) -> str:
    """A PATH holding what the daemon and its agents need (git, python3, sh), but no bwrap."""
    folder = root / "bin-without-bwrap"
    folder.mkdir(exist_ok=True)
    for name in ("git", "python3", "sh", "env", "true"):
        found = sys.executable if name == "python3" else shutil.which(name)
        assert found is not None, name
        if not (folder / name).exists():
            (folder / name).symlink_to(os.path.realpath(found))
    return str(folder)


def daemon_once(s: Site, config: Path, path: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(mtor("daemon", "--once", "--config", str(config)), cwd=s.root,
                          env={**DAEMON_ENV, "PATH": path}, capture_output=True, text=True,
                          timeout=120)


def test_configured_bwrap_missing_refuses_to_start_in_one_line(s: Site) -> None:
    config = s.config("w1", extra={"sandbox": "bwrap"})
    proc = daemon_once(s, config, path_without_bwrap(s.root))
    assert proc.returncode == EXIT_CONFIG, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "sandbox" in lines[0], proc.stderr


def test_no_setting_without_bwrap_runs_as_none_and_says_so(s: Site) -> None:
    s.push_specs({"t1": spec()})
    config = s.config("w1")
    proc = daemon_once(s, config, path_without_bwrap(s.root))
    assert proc.returncode == 0, proc.stderr
    assert "NO SANDBOX" in daemon_log(s, "w1")
    result = s.result("t1")
    assert (result["status"], result["sandbox"]) == ("succeeded", "none")


@pytest.mark.skipif(find_bwrap() is None, reason="bubblewrap is not installed")
def test_default_with_bwrap_records_bwrap_in_the_result(s: Site) -> None:
    s.push_specs({"t1": spec()})
    s.run_once(s.config("w1"))
    assert s.result("t1")["sandbox"] == "bwrap"


@pytest.mark.skipif(find_bwrap() is None, reason="bubblewrap is not installed")
def test_an_agent_program_the_sandbox_hides_refuses_to_start(s: Site) -> None:
    hidden = s.root / "workers" / "w1" / "state" / "tools" / "agent"  # inside the state dir
    hidden.parent.mkdir(parents=True)
    hidden.write_text("#!/bin/sh\nexit 0\n")
    hidden.chmod(0o755)
    config = s.config("w1", default_agent="hidden",
                      extra={"agents": {"hidden": {"command": [str(hidden)]}}})
    proc = subprocess.run(mtor("daemon", "--once", "--config", str(config)), cwd=s.root,
                          env=DAEMON_ENV, capture_output=True, text=True, timeout=120)
    assert proc.returncode == EXIT_CONFIG, proc.stderr
    assert "sandbox_paths" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
