"""A follow-up updates the pull request its target opened (a comment with its own summary),
never opens a second one for the same branch; its note lands on that branch, in its own result.
A fake forge CLI on PATH records the argv it receives (see test_forge_pull_requests.py)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from daemonfixtures import DAEMON_ENV, Site, mtor, site, spec

FAKE = """#!/usr/bin/env python3
import json, sys
with open({log!r}, "a") as fh:
    fh.write(json.dumps({{"argv": sys.argv[1:], "stdin": sys.stdin.read()}}) + "\\n")
print({url!r} if ("create" in sys.argv[1:3]) else "ok")
"""
URL = "https://gitlab.example/me/p/-/merge_requests/7"


def _once(s: Site) -> None:
    config = s.config("w1", extra={"pull_request": {"forge": "gitlab", "repo": "me/p"}})
    env = {**DAEMON_ENV, "PATH": f"{s.root / 'bin'}:{os.environ['PATH']}"}
    done = subprocess.run(mtor("daemon", "--once", "--config", str(config)), env=env,
                          capture_output=True, text=True, timeout=120, cwd=s.root)
    assert done.returncode == 0, done.stderr[-3000:]


def _calls(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def test_a_followup_comments_on_the_pull_request_of_the_branch_it_continues(
        tmp_path: Path) -> None:
    with site(tmp_path) as s:
        (s.root / "bin").mkdir()
        log = s.root / "glab.jsonl"
        tool = s.root / "bin" / "glab"
        tool.write_text(FAKE.format(log=str(log), url=URL))
        tool.chmod(0o755)
        s.push_specs({"feature": spec("Build it.\n")}, "the task")
        _once(s)
        s.push_specs({"feature-more": spec("Polish it.\n", continues="feature")}, "follow-up")
        _once(s)
        calls = _calls(log)
        assert [c["argv"][:2] for c in calls] == [["mr", "create"], ["mr", "note"]], calls
        assert calls[1]["argv"][2] == URL
        assert "`feature-more` succeeded" in calls[1]["stdin"]
        result = s.result("feature-more", branch="mtor/feature")
        assert f"pull request updated: {URL}" in result["notes"]
        assert "refs/heads/mtor/feature-more" not in s.refs()
