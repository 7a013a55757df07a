"""`mtor-git demo` shows a verified task (its check fails, the fix round mends it) and a follow-up
that lands on the branch of the task it continues."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pygit2


def _result(remote: pygit2.Repository, branch: str, task: str) -> dict[str, Any]:
    tip = remote.revparse_single(f"refs/heads/{branch}").peel(pygit2.Commit)
    blob = remote[tip.tree[f"results/{task}.json"].id].peel(pygit2.Blob)
    data: dict[str, Any] = json.loads(blob.data)
    return data


def test_demo_verifies_after_a_fix_round_and_grows_a_branch_with_a_followup(
        tmp_path: Path) -> None:
    box = tmp_path / "box"
    proc = subprocess.run([sys.executable, "-m", "mtor_git", "demo", "--dir", str(box)],
                          env={**os.environ, "TMPDIR": str(tmp_path)}, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    remote = pygit2.Repository(str(box / "remote.git"))
    checked = _result(remote, "mtor/checked-greeting", "checked-greeting")
    assert checked["status"] == "succeeded" and checked["verified"] is True
    assert [c["passed"] for c in checked["verification"]["checks"]] == [False, True]
    assert "refs/heads/mtor/greeting-follow-up" not in remote.references
    follow = _result(remote, "mtor/add-greeting", "greeting-follow-up")
    first = _result(remote, "mtor/add-greeting", "add-greeting")
    assert follow["status"] == "succeeded" and follow["branch"] == "mtor/add-greeting"
    assert first["status"] == "succeeded" and follow["base_commit"] != first["base_commit"]
