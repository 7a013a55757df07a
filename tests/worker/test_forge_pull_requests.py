"""`pull_request:` on any forge: GitLab (`glab`), Gitea (`tea`) or an argv template, each a
draft with reviewers and labels; a retry of the task updates the pull request the first run
opened instead of opening another; a CLI that fails is a note, never a task failure.

glab and tea cannot be installed here (no forge servers either), so these tests record the argv
a small fake CLI on PATH receives; the real `gh` is driven in test_gh_real.py."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from daemonfixtures import DAEMON_ENV, Site, mtor, site

from mtor_git.config.load import parse_config
from mtor_git.errors import ConfigError

FAKE = """#!/usr/bin/env python3
import json, sys
with open({log!r}, "a") as fh:
    fh.write(json.dumps({{"argv": sys.argv[1:], "stdin": sys.stdin.read()}}) + "\\n")
if {fail}:
    sys.stderr.write("401 Unauthorized\\n")
    sys.exit(1)
print({url!r} if ("create" in sys.argv[1:3]) else "ok")
"""
SPEC = b"---\ntitle: Make a PR\n---\nEdit AGENT_EDIT.md.\n"


@pytest.fixture
def s(tmp_path: Path) -> Iterator[Site]:
    with site(tmp_path) as built:
        yield built


def _fake(s: Site, name: str, url: str = "https://forge.example/me/p/pull/3",
          fail: bool = False) -> Path:
    bin_dir = s.root / "bin"
    bin_dir.mkdir(exist_ok=True)
    log = s.root / f"{name}.jsonl"
    tool = bin_dir / name
    tool.write_text(FAKE.format(log=str(log), url=url, fail=fail))
    tool.chmod(0o755)
    return log


def _calls(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def _once(s: Site, pull_request: Any) -> None:
    config = s.config("w1", extra={"pull_request": pull_request})
    env = {**DAEMON_ENV, "PATH": f"{s.root / 'bin'}:{os.environ['PATH']}"}
    done = subprocess.run(mtor("daemon", "--once", "--config", str(config)), env=env,
                          capture_output=True, text=True, timeout=120, cwd=s.root)
    assert done.returncode == 0, done.stderr[-3000:]


def _retry(s: Site, task_id: str) -> None:
    subprocess.run(mtor("retry", task_id), cwd=s.user, env=DAEMON_ENV, check=True,
                   capture_output=True, timeout=60)


def _value(argv: list[str], flag: str) -> list[str]:
    return [argv[i + 1] for i, word in enumerate(argv) if word == flag]


def test_gitlab_draft_with_reviewers_and_labels_then_a_retry_comments(s: Site) -> None:
    log = _fake(s, "glab", url="https://gitlab.example/me/p/-/merge_requests/3")
    settings = {"forge": "gitlab", "reviewers": ["alice", "bob"], "labels": ["mtor"],
                "repo": "me/p"}
    s.push_specs({"pr-task": SPEC})
    _once(s, settings)
    first = _calls(log)
    assert len(first) == 1
    argv = first[0]["argv"]
    assert argv[:2] == ["mr", "create"] and "--draft" in argv and "--yes" in argv
    assert _value(argv, "--source-branch") == ["mtor/pr-task"]
    assert _value(argv, "--target-branch") == ["main"]
    assert _value(argv, "--reviewer") == ["alice", "bob"]
    assert _value(argv, "--label") == ["mtor"] and _value(argv, "--repo") == ["me/p"]
    assert "`pr-task` succeeded" in _value(argv, "--description")[0]
    result = s.result("pr-task")
    assert result["status"] == "succeeded"
    assert "pull request opened: https://gitlab.example/me/p/-/merge_requests/3" in result["notes"]

    _retry(s, "pr-task")
    _once(s, settings)
    calls = _calls(log)
    assert len(calls) == 2, calls  # updated, not opened again
    assert calls[1]["argv"][:3] == ["mr", "note", "https://gitlab.example/me/p/-/merge_requests/3"]
    second = s.result("pr-task", branch="mtor/pr-task-r2")
    assert "pull request updated: https://gitlab.example/me/p/-/merge_requests/3" in \
        second["notes"]


def test_gitea_marks_the_draft_in_the_title(s: Site) -> None:
    log = _fake(s, "tea")
    s.push_specs({"pr-task": SPEC})
    _once(s, {"forge": "gitea", "labels": ["a", "b"]})
    argv = _calls(log)[0]["argv"]
    assert argv[:2] == ["pr", "create"]
    assert _value(argv, "--title") == ["WIP: mtor: Make a PR (succeeded)"]
    assert _value(argv, "--head") == ["mtor/pr-task"] and _value(argv, "--labels") == ["a,b"]


def test_a_command_template_for_any_other_forge(s: Site) -> None:
    log = _fake(s, "myforge")
    s.push_specs({"pr-task": SPEC})
    _once(s, {"command": ["myforge", "open", "{repo}", "{head}", "{base}", "{title}",
                          "{body_file}", "{draft}"],
              "comment_command": ["myforge", "comment", "{pr}", "{body_file}"],
              "repo": "team/tool"})
    call = _calls(log)[0]
    argv = call["argv"]
    assert argv[:5] == ["open", "team/tool", "mtor/pr-task", "main",
                        "mtor: Make a PR (succeeded)"]
    assert argv[5].endswith("body.md") and argv[6] == "true"
    assert "`pr-task` succeeded" in call["stdin"]
    assert "pull request opened: ok" in s.result("pr-task")["notes"]


def test_a_failing_forge_cli_is_a_note_not_a_task_failure(s: Site) -> None:
    _fake(s, "glab", fail=True)
    s.push_specs({"pr-task": SPEC})
    _once(s, "gitlab")
    result = s.result("pr-task")
    assert result["status"] == "succeeded"
    assert any(n.startswith("pull request not opened: glab exited 1: 401 Unauthorized")
               for n in result["notes"]), result["notes"]


def test_a_missing_forge_cli_is_a_note(s: Site) -> None:
    s.push_specs({"pr-task": SPEC})
    _once(s, "gitea")
    assert "pull request not opened: `tea` is not on PATH" in s.result("pr-task")["notes"]


@pytest.mark.parametrize(("value", "needle"), [
    ("bitbucket", "expected none, github, gitlab, gitea"),
    ({"forge": "gitlab", "reviewer": ["x"]}, "did you mean 'reviewers'"),
    ({"forge": "command"}, "command: [argv template]"),
    ({"forge": "github", "draft": "yes"}, "true or false"),
])
def test_pull_request_config_errors_name_the_field(value: Any, needle: str) -> None:
    text = json.dumps({"repos": [{"url": "/srv/x.git"}], "agents": {"a": {"command": ["/bin/a"]}},
                       "pull_request": value})
    with pytest.raises(ConfigError) as caught:
        parse_config(text, source="w.yaml", environ={})
    assert "pull_request" in str(caught.value) and needle in str(caught.value)


def test_gh_is_github_and_none_is_off() -> None:
    base = '{"repos": [{"url": "/srv/x.git"}], "agents": {"a": {"command": ["/bin/a"]}}, '
    gh = parse_config(base + '"pull_request": "gh"}', environ={}).pull_request
    assert gh is not None and gh.forge == "github" and gh.draft
    assert parse_config(base + '"pull_request": "none"}', environ={}).pull_request is None
