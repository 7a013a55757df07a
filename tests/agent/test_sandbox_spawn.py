"""run_attempt inside the bubblewrap sandbox: stops keep their meaning (timeout, cancel), exit codes
and signals come through, the prompt file is reachable, and nothing of an attempt outlives it."""

from __future__ import annotations

import json
import os
import sys
import threading
from pathlib import Path

import pytest
from runner_fixtures import base_environ, fake_profile, fake_state, git_worktree
from sandboxfixtures import TOOLCHAIN

from mtor_git.agent.profiles import AgentProfile
from mtor_git.agent.sandbox import Sandbox, SandboxPath, find_bwrap, worker_hides
from mtor_git.agent.spawn import RunRequest, preflight, run_attempt
from mtor_git.errors import PreflightError

BWRAP = find_bwrap()
pytestmark = pytest.mark.skipif(BWRAP is None, reason="bubblewrap is not installed")
# The interpreter of the fake agents may live under a hidden home (pyenv in /root).
PYTHON = SandboxPath(Path(os.path.realpath(sys.base_prefix)))
# ... and this checkout with its venv, when it lies under a folder the sandbox hides (/tmp).
SHOWN = (PYTHON, *(SandboxPath(Path(p)) for p in TOOLCHAIN if Path(p) != PYTHON.path))


@pytest.fixture
def wt(tmp_path: Path) -> Path:
    return git_worktree(tmp_path / "ws" / "checkout")


def boxed(tmp_path: Path) -> Sandbox:
    assert BWRAP is not None
    return Sandbox("bwrap", BWRAP, worker_hides(tmp_path / "ws", tmp_path / "state"),
                   scratch=tmp_path / "ws" / ".attempts")


def request(tmp_path: Path, profile: AgentProfile, cwd: Path, **kw: object) -> RunRequest:
    fields: dict[str, object] = {"environ": base_environ(), "timeout": 30.0,
                                 "sandbox": boxed(tmp_path)}
    fields.update(kw)
    return RunRequest(profile, "do it", cwd, **fields)  # type: ignore[arg-type]


def fake(mode: str, *args: str, **changes: object) -> AgentProfile:
    fields: dict[str, object] = {"sandbox_paths": SHOWN, **changes}
    return fake_profile(mode, *args, **fields)  # type: ignore[arg-type]


def test_a_successful_agent_edits_its_checkout_and_exits_zero(tmp_path: Path, wt: Path) -> None:
    run = run_attempt(request(tmp_path, fake("success"), wt))
    assert run.exit_code == 0 and run.signal is None and run.stopped_by is None
    assert (wt / "AGENT_EDIT.md").exists()
    assert list((tmp_path / "ws" / ".attempts").iterdir()) == []  # HOME/TMPDIR removed


def test_the_agent_gets_a_private_home_and_tmpdir(tmp_path: Path, wt: Path) -> None:
    run = run_attempt(request(tmp_path, fake("env-dump"), wt))
    env = json.loads(run.stdout.text())
    assert env["TMPDIR"] == "/tmp"
    assert env["HOME"] == os.path.realpath(os.environ["HOME"])  # same path, private contents
    assert "FAKE_SECRET" not in env


def test_exit_codes_come_through_unchanged(tmp_path: Path, wt: Path) -> None:
    run = run_attempt(request(tmp_path, fake("silent-fail"), wt))
    assert (run.exit_code, run.signal) == (1, None)


def test_a_signal_death_is_reported_as_the_signal(tmp_path: Path, wt: Path) -> None:
    run = run_attempt(request(tmp_path, fake("signal", "--signal", "9"), wt))
    assert (run.exit_code, run.signal, run.stopped_by) == (None, 9, None)


def test_a_timeout_is_a_timeout_and_leaves_nothing_running(tmp_path: Path, wt: Path) -> None:
    run = run_attempt(request(tmp_path, fake("hang"), wt, timeout=1.0, kill_grace=0.5))
    assert run.stopped_by == "timeout"
    assert fake_state(wt, "pids").read_text().split()  # it did start its child
    assert running_in(wt) == []


def running_in(cwd: Path) -> list[int]:
    """Host pids of live processes whose working directory is `cwd`."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and os.readlink(entry / "cwd") == str(cwd):
                state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
                found += [int(entry.name)] if state not in ("Z", "X") else []
        except OSError:
            continue
    return found


def test_cancel_stops_the_agent_with_stopped_by_cancel(tmp_path: Path, wt: Path) -> None:
    cancel = threading.Event()
    threading.Timer(0.5, cancel.set).start()
    run = run_attempt(request(tmp_path, fake("hang"), wt, kill_grace=0.5), cancel=cancel)
    assert run.stopped_by == "cancel"


def test_sigterm_reaches_the_agent_first(tmp_path: Path, wt: Path) -> None:
    script = wt / "graceful.py"
    script.write_text("import signal, sys, time\n"
                      "def bye(*_):\n"
                      "    open('bye.txt', 'w').write('term'); sys.exit(3)\n"
                      "signal.signal(signal.SIGTERM, bye)\n"
                      "time.sleep(60)\n")
    profile = AgentProfile(name="graceful", command=(sys.executable, str(script)),
                           sandbox_paths=SHOWN)
    run = run_attempt(request(tmp_path, profile, wt, timeout=1.0, kill_grace=5.0))
    assert run.stopped_by == "timeout" and run.exit_code == 3
    assert (wt / "bye.txt").read_text() == "term"


def test_a_prompt_file_is_read_inside_the_sandbox(tmp_path: Path, wt: Path) -> None:
    profile = fake("success", "--prompt-file", "{prompt_file}", prompt="file")
    run = run_attempt(request(tmp_path, profile, wt))
    assert run.exit_code == 0
    assert fake_state(wt, "prompt.txt").read_text() == "do it"


def test_a_binary_the_sandbox_hides_is_refused_in_preflight(tmp_path: Path, wt: Path) -> None:
    hidden = tmp_path / "state" / "bin" / "agent"
    hidden.parent.mkdir(parents=True)
    hidden.write_text("#!/bin/sh\nexit 0\n")
    hidden.chmod(0o755)
    with pytest.raises(PreflightError) as info:
        preflight(request(tmp_path, AgentProfile(name="x", command=(str(hidden),)), wt))
    assert info.value.kind == "binary_missing"
    shown = AgentProfile(name="x", command=(str(hidden),),
                         sandbox_paths=(SandboxPath(hidden.parent),))
    assert run_attempt(request(tmp_path, shown, wt)).exit_code == 0


def test_an_interpreter_found_on_no_visible_path_folder_is_refused(tmp_path: Path,
                                                                   wt: Path) -> None:
    hidden = tmp_path / "state" / "bin"
    hidden.mkdir(parents=True)
    (hidden / "mtor-test-interp").write_text("#!/bin/sh\nexit 0\n")
    (hidden / "mtor-test-interp").chmod(0o755)
    script = wt / "agent.sh"  # visible itself: only its interpreter is not
    script.write_text("#!/usr/bin/env mtor-test-interp\n")
    script.chmod(0o755)
    environ = {**base_environ(), "PATH": f"{hidden}:/usr/bin:/bin"}
    with pytest.raises(PreflightError) as info:
        preflight(request(tmp_path, AgentProfile(name="x", command=(str(script),)), wt,
                          environ=environ))
    assert info.value.kind == "binary_missing" and "mtor-test-interp" in str(info.value)
