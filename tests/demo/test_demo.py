"""`mtor-git demo` end to end, as a newcomer runs it: three tasks, three honest outcomes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pygit2


def _demo(*args: str, tmp: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TMPDIR": str(tmp)}
    return subprocess.run([sys.executable, "-m", "mtor_git", "demo", *args], env=env,
                          capture_output=True, text=True, timeout=120)


def _row(output: str, task: str) -> str:
    match = re.search(rf"^{re.escape(task)}\s+(.*)$", output, flags=re.MULTILINE)
    assert match, f"no status row for {task}:\n{output}"
    return match.group(1)


def test_demo_shows_a_success_an_incident_failure_and_a_survived_rate_limit(
        tmp_path: Path) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    proc = _demo(tmp=scratch)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert _row(out, "add-greeting").startswith("succeeded")
    failed = _row(out, "misconfigured-flag")
    assert failed.startswith("failed") and "usage_error" in failed and "model no" in failed
    flaky = _row(out, "rate-limited-once")
    assert flaky.startswith("succeeded") and "2 attempts" in flaky
    # The PR body of the success and the evidence of the incident-like failure.
    assert "## ✅ `add-greeting` succeeded" in out
    assert "unknown option '--permision-mode'" in out
    assert "usage_text" in out  # the rule that matched is named
    assert list(scratch.iterdir()) == [], "the demo must leave nothing behind without --dir"


def test_demo_with_dir_keeps_a_sandbox_whose_results_are_on_the_remote(tmp_path: Path) -> None:
    box = tmp_path / "box"
    proc = _demo("--dir", str(box), tmp=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    remote = pygit2.Repository(str(box / "remote.git"))
    statuses = {}
    for task in ("add-greeting", "misconfigured-flag", "rate-limited-once"):
        tip = remote.revparse_single(f"refs/heads/mtor/{task}").peel(pygit2.Commit)
        blob = tip.tree[f"results/{task}.json"]
        statuses[task] = json.loads(remote[blob.id].peel(pygit2.Blob).data)
    assert statuses["add-greeting"]["status"] == "succeeded"
    assert statuses["add-greeting"]["model_invoked"] is True
    assert statuses["misconfigured-flag"]["status"] == "failed"
    assert len(statuses["misconfigured-flag"]["attempts"]) == 1
    kinds = [a["classification"]["kind"] for a in statuses["rate-limited-once"]["attempts"]]
    assert kinds == ["rate_limited", "succeeded"]
    assert f"cd {box / 'clone'}" in proc.stdout


def test_demo_refuses_a_non_empty_dir(tmp_path: Path) -> None:
    (tmp_path / "box").mkdir()
    (tmp_path / "box" / "keep.txt").write_text("mine\n")
    proc = _demo("--dir", str(tmp_path / "box"), tmp=tmp_path)
    assert proc.returncode == 2
    assert (tmp_path / "box" / "keep.txt").read_text() == "mine\n"
