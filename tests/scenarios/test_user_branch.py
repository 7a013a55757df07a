"""A branch named like a result branch that holds no result (issue 16, F13): a user's own
`mtor/<id>` pushed before the spec is no result; the task runs on the next run branch, `status`
says why, and `retry` goes on from there."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from daemonfixtures import DAEMON_ENV, Site, mtor, site, spec
from gitfixtures import git

pytestmark = pytest.mark.slow


@pytest.fixture
def s(tmp_path: Path) -> Iterator[Site]:
    with site(tmp_path) as running:
        yield running


def user_cli(s: Site, *args: str) -> str:
    return subprocess.run(mtor(*args), cwd=s.user, env=DAEMON_ENV, capture_output=True,
                          text=True, timeout=60, check=True).stdout


def status_json(s: Site, task_id: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(user_cli(s, "status", task_id, "--json"))
    tasks: list[dict[str, Any]] = [t for t in data["tasks"] if t["id"] == task_id]
    [task] = tasks
    return task


def test_a_users_own_mtor_branch_is_no_result(s: Site) -> None:
    git("checkout", "-q", "-b", "mtor/t1", cwd=s.user)
    (s.user / "notes.md").write_text("my own work, nothing to do with mtor-git\n")
    git("add", "notes.md", cwd=s.user)
    git("commit", "-q", "-m", "my own branch", cwd=s.user)
    git("push", "-q", "--no-verify", "origin", "mtor/t1", cwd=s.user)
    mine = git("rev-parse", "HEAD", cwd=s.user)
    git("checkout", "-q", "main", cwd=s.user)
    s.push_specs({"t1": spec()})

    before = status_json(s, "t1")
    assert (before["state"], before["run"]) == ("pending", 2), before
    assert "mtor/t1 exists, no result" in before["detail"]
    assert "exists, no result" in user_cli(s, "status", "t1")

    s.run_once(s.config("w1"))
    assert s.invocations() == ["t1.r2"]
    assert s.result("t1", "mtor/t1-r2")["status"] == "succeeded"
    assert s.refs()["refs/heads/mtor/t1"] == mine  # the user's branch is left alone
    after = status_json(s, "t1")
    assert (after["state"], after["run"]) == ("succeeded", 2), after

    user_cli(s, "retry", "t1")
    s.run_once(s.config("w1"))
    assert s.invocations() == ["t1.r2", "t1.r3"]
    assert s.result("t1", "mtor/t1-r3")["run"] == 3
    assert status_json(s, "t1")["run"] == 3
