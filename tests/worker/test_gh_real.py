"""`pull_request: github` with the real `gh` (Debian package) against a loopback stand-in of
the GitHub GraphQL API over https (tests/github_stub.py): the worker opens a DRAFT pull request
from the result branch with the configured labels and reviewers, and a retry of the task
comments on that same pull request instead of opening a second one."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from daemonfixtures import DAEMON_ENV, Site, mtor, site
from github_stub import GitHubStub, github_stub
from serverfixtures import make_tls

TOKEN = "ghtok-5c1e9d02a7"
SPEC = b"---\ntitle: Make a PR\n---\nEdit AGENT_EDIT.md.\n"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[Site, GitHubStub, dict[str, str]]]:
    gh = shutil.which("gh")
    if gh is None:
        pytest.fail("gh is not installed (Debian package gh); .ci/run installs it",
                    pytrace=False)
    tls = make_tls(tmp_path / "tls")
    home = tmp_path / "home"
    home.mkdir()
    with site(tmp_path / "site") as s, github_stub(tls) as stub:
        env = {**DAEMON_ENV, "GH_CONFIG_DIR": str(home), "GH_HOST": stub.host,
               "GH_ENTERPRISE_TOKEN": TOKEN, "SSL_CERT_FILE": str(tls.ca),
               "GH_PROMPT_DISABLED": "1", "GH_NO_UPDATE_NOTIFIER": "1", "NO_COLOR": "1",
               "PATH": os.environ["PATH"]}
        yield s, stub, env


def _once(s: Site, stub: GitHubStub, env: dict[str, str]) -> None:
    config = s.config("w1", extra={"pull_request": {
        "forge": "github", "repo": stub.repo, "reviewers": ["alice"], "labels": ["mtor"]}})
    done = subprocess.run(mtor("daemon", "--once", "--config", str(config)), env=env,
                          capture_output=True, text=True, timeout=180, cwd=s.root)
    assert done.returncode == 0, done.stderr[-3000:]


def test_real_gh_opens_a_draft_then_a_retry_comments_on_it(
        world: tuple[Site, GitHubStub, dict[str, str]]) -> None:
    s, stub, env = world
    s.push_specs({"pr-task": SPEC})
    _once(s, stub, env)
    create = [c for c in stub.calls if c.operation == "PullRequestCreate"]
    assert len(create) == 1, stub.operations()
    given = create[0].variables["input"]
    assert given["draft"] is True and given["headRefName"] == "mtor/pr-task"
    assert given["baseRefName"] == "main" and "`pr-task` succeeded" in given["body"]
    assert "PullRequestCreateRequestReviews" in stub.operations()
    assert "PullRequestCreateMetadata" in stub.operations()  # the label
    assert all(c.authorization == f"token {TOKEN}" for c in stub.calls)
    result = s.result("pr-task")
    assert result["status"] == "succeeded"
    assert f"pull request opened: {stub.url(7)}" in result["notes"]

    subprocess.run(mtor("retry", "pr-task"), cwd=s.user, env=DAEMON_ENV, check=True,
                   capture_output=True, timeout=60)
    _once(s, stub, env)
    assert stub.operations().count("PullRequestCreate") == 1  # no second pull request
    comments = [c for c in stub.calls if c.operation == "CommentCreate"]
    assert len(comments) == 1 and comments[0].variables["input"]["subjectId"] == "PR_7"
    assert "`pr-task` succeeded" in comments[0].variables["input"]["body"]
    second = s.result("pr-task", branch="mtor/pr-task-r2")
    assert f"pull request updated: {stub.url(7)}" in second["notes"]
    assert TOKEN not in str(result) + str(second)
