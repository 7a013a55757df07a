"""`pull_request: gh`: the worker opens the pull request itself, and whatever `gh` does — opens
it, fails, is missing — is written into the result; it never fails the task."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from daemonfixtures import DAEMON_ENV, Site, mtor, site
from gitfixtures import install_hook

from mtor_git.states import TaskStatus
from mtor_git.worker.pullrequest import repo_slug

FAKE_GH = """#!/bin/sh
printf '%s\\n' "$@" > "{log}.args"
cat > "{log}.body"
{action}
"""


@pytest.fixture
def s(tmp_path: Path) -> Iterator[Site]:
    with site(tmp_path) as built:
        yield built


def _gh(tmp_path: Path, action: str) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    gh = bin_dir / "gh"
    gh.write_text(FAKE_GH.format(log=tmp_path / "gh", action=action))
    gh.chmod(0o755)
    return bin_dir


def _run(s: Site, path: str) -> None:
    s.push_specs({"pr-task": b"---\ntitle: Make a PR\n---\nEdit AGENT_EDIT.md.\n"})
    config = s.config("w1", extra={"pull_request": "gh"})
    env = {**DAEMON_ENV, "PATH": path}
    proc = subprocess.run(mtor("daemon", "--once", "--config", str(config)), env=env,
                          capture_output=True, text=True, timeout=120, cwd=s.root)
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_gh_opens_the_pull_request_from_the_result_branch(s: Site, tmp_path: Path) -> None:
    bin_dir = _gh(tmp_path, "echo https://github.example/me/p/pull/7")
    _run(s, f"{bin_dir}:{os.environ['PATH']}")
    args = (tmp_path / "gh.args").read_text().split("\n")
    assert args[:2] == ["pr", "create"]
    assert args[args.index("--head") + 1] == "mtor/pr-task"
    assert args[args.index("--base") + 1] == "main"
    assert "## ✅ `pr-task` succeeded" in (tmp_path / "gh.body").read_text()
    result = s.result("pr-task")
    assert result["status"] == "succeeded"
    assert "pull request opened: https://github.example/me/p/pull/7" in result["notes"]


def test_a_failing_gh_is_a_note_not_a_failure(s: Site, tmp_path: Path) -> None:
    bin_dir = _gh(tmp_path, "echo 'HTTP 401: Bad credentials' >&2; exit 1")
    _run(s, f"{bin_dir}:{os.environ['PATH']}")
    result = s.result("pr-task")
    assert result["status"] == "succeeded"
    (note,) = result["notes"]
    assert "gh exited 1" in note and "Bad credentials" in note


def test_a_missing_gh_is_a_note_not_a_failure(s: Site, tmp_path: Path) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    # What the worker and its agent need, but no gh.
    (empty / "git").symlink_to(shutil.which("git") or "/usr/bin/git")
    (empty / "python3").symlink_to(sys.executable)
    _run(s, str(empty))
    result = s.result("pr-task")
    assert result["status"] == "succeeded"
    assert result["notes"] == ["pull request not opened: `gh` is not on PATH"]
    assert json.loads(json.dumps(result))  # still a plain, valid result


@pytest.mark.parametrize("url", ["git@github.com:me/proj.git", "https://github.com/me/proj",
                                 "ssh://git@github.com/me/proj.git"])
def test_repo_slug_of_github_urls(url: str) -> None:
    assert repo_slug(url) == "me/proj"


def test_a_result_that_waited_in_the_outbox_gets_its_pull_request_when_it_lands(
        s: Site, tmp_path: Path) -> None:
    block = tmp_path / "block"
    block.touch()
    install_hook(s.remote, "pre-receive", f"""#!/bin/sh
while read old new ref; do
  case "$ref" in refs/heads/mtor/*) [ -e {block} ] && echo "not now" && exit 1;; esac
done
exit 0
""")
    bin_dir = _gh(tmp_path, "echo https://github.example/me/p/pull/8")
    _run(s, f"{bin_dir}:{os.environ['PATH']}")
    assert not (tmp_path / "gh.args").exists()  # nothing landed, so no pull request yet
    block.unlink()
    config = s.config("w1", extra={"pull_request": "gh"})
    env = {**DAEMON_ENV, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    proc = subprocess.run(mtor("daemon", "--once", "--config", str(config)), env=env,
                          capture_output=True, text=True, timeout=120, cwd=s.root)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "gh.args").read_text().split("\n")[:2] == ["pr", "create"]
    assert s.result("pr-task")["notes"] == ["pull request opened: "
                                            "https://github.example/me/p/pull/8"]


def test_a_result_reads_back_from_its_json() -> None:
    from mtor_git.task.result import Result, TaskInfo, WorkerInfo

    result = Result(status=TaskStatus.FAILED,
                    task=TaskInfo("t1", "tasks/t1.md", None, None, "claude"),
                    worker=WorkerInfo("w1", "host", "0.1.0", 7), branch="mtor/t1",
                    started_at=1_700_000_000.25, finished_at=1_700_000_003.5,
                    model_invoked=None, notes=("a note",))
    assert Result.from_json(result.to_json()).to_json() == result.to_json()
