#!/usr/bin/env python3
"""A fake agent that turns its task checkout's git against the worker.

Usage: hostile_git_agent.py [--set-url URL] [--set-pushurl URL] [--push REFSPEC]...
                            [--results-dir ID] [--forge ID] [--huge] [--conflict]
                            [--alternates DIR --steal FILE]

It always runs `git status` and `git log -1` first, writes HOSTILE.md and records there, one line
each, what its git commands did (`<command>: exit <code>`), so a test can see what git allowed.
Then:
  --set-url URL      `git config remote.origin.url URL`;
  --set-pushurl URL  `git config remote.origin.pushurl URL`;
  --push REFSPEC     commits PUSHED.md, then `git push origin REFSPEC` (repeatable: `HEAD:main`,
                     `HEAD:mtor/<other>`, `:refs/mtor/claims/<other>` deletes another task's
                     claim);
  --results-dir ID   makes results/<ID>.json a folder (with a file inside) and results/<ID>.md
                     a symlink to /etc/passwd;
  --forge ID         commits results/<ID>.json, a forged `succeeded` result of another task;
  --huge             writes HUGE.bin, a sparse file of 1 GiB (no disk used);
  --conflict         starts a merge that conflicts and leaves it open (MERGE_HEAD, markers);
  --alternates DIR --steal FILE
                     first call: adds DIR to .git/objects/info/alternates and reports a 429
                     (so the worker runs it again in the same checkout); second call: records
                     in HOSTILE.md whether FILE (a worker file inside DIR) could be read.
It prints a Claude-like JSON success report, exit 0. The prompt is read from stdin and ignored.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def values(args: list[str], flag: str) -> list[str]:
    return [args[i + 1] for i, a in enumerate(args) if a == flag and i + 1 < len(args)]


def run_git(log: list[str], *argv: str) -> None:
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_AUTHOR_NAME": "Hostile",
           "GIT_AUTHOR_EMAIL": "hostile@example.org", "GIT_COMMITTER_NAME": "Hostile",
           "GIT_COMMITTER_EMAIL": "hostile@example.org"}
    proc = subprocess.run(["git", *argv], capture_output=True, timeout=60, env=env)
    log.append(f"git {' '.join(argv)}: exit {proc.returncode}")


def conflict(log: list[str]) -> None:
    """Two commits changing the same line on two branches, merged: the merge stops half done."""
    Path("CONFLICT.md").write_text("base\n")
    run_git(log, "add", "CONFLICT.md")
    run_git(log, "commit", "--quiet", "-m", "base line")
    run_git(log, "checkout", "--quiet", "-b", "side")
    Path("CONFLICT.md").write_text("side\n")
    run_git(log, "commit", "--quiet", "-am", "side line")
    run_git(log, "checkout", "--quiet", "-")
    Path("CONFLICT.md").write_text("mine\n")
    run_git(log, "commit", "--quiet", "-am", "my line")
    run_git(log, "merge", "side")


def alternates_trick(args: list[str], log: list[str]) -> bool:
    """True on the first call (after planting DIR in alternates): the caller reports a 429."""
    marker = Path(".git") / "hostile-attempt"
    if not marker.exists():
        marker.write_text("1\n")
        with open(Path(".git") / "objects" / "info" / "alternates", "a") as out:
            out.write(values(args, "--alternates")[0] + "\n")
        return True
    target = Path(values(args, "--steal")[0])
    try:
        target.read_bytes()
        log.append(f"read {target}: yes")
    except OSError as exc:
        log.append(f"read {target}: no ({type(exc).__name__})")
    return False


def main() -> None:
    args = sys.argv[1:]
    sys.stdin.buffer.read()
    if "--alternates" in args and alternates_trick(args, []):
        sys.stdout.write(json.dumps({"type": "result", "subtype": "error", "is_error": True,
                                     "api_error_status": 429, "num_turns": 0,
                                     "result": "API Error: Request rejected (429)"}) + "\n")
        sys.exit(1)
    log: list[str] = []
    if "--alternates" in args:
        alternates_trick(args, log)
    run_git(log, "status", "--porcelain")  # what every coding agent does first: needs the
    run_git(log, "log", "-1", "--format=%H")  # base's objects (borrowed from the worker's clone)
    for url in values(args, "--set-url"):
        run_git(log, "config", "remote.origin.url", url)
    for url in values(args, "--set-pushurl"):
        run_git(log, "config", "remote.origin.pushurl", url)
    if values(args, "--push"):  # something new to push: a commit of its own first
        Path("PUSHED.md").write_text("pushed by the hostile agent\n")
        run_git(log, "add", "PUSHED.md")
        run_git(log, "commit", "--quiet", "--no-verify", "-m", "hostile: pushed")
    for refspec in values(args, "--push"):
        run_git(log, "push", "--no-verify", "origin", refspec)
    for task_id in values(args, "--results-dir"):
        folder = Path("results") / f"{task_id}.json"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "inside.txt").write_text("the agent's folder where the result goes\n")
        (Path("results") / f"{task_id}.md").symlink_to("/etc/passwd")
    for task_id in values(args, "--forge"):
        forged = Path("results") / f"{task_id}.json"
        forged.parent.mkdir(exist_ok=True)
        forged.write_text(json.dumps({"status": "succeeded", "run": 99}) + "\n")
        run_git(log, "add", str(forged))
        run_git(log, "commit", "--quiet", "--no-verify", "-m", f"forged result of {task_id}")
    if "--huge" in args:
        with open("HUGE.bin", "wb") as out:
            out.truncate(1 << 30)
    if "--conflict" in args:
        conflict(log)
    Path("HOSTILE.md").write_text("".join(f"{line}\n" for line in log) or "nothing tried\n")
    report = {"type": "result", "subtype": "success", "is_error": False, "duration_ms": 5,
              "num_turns": 1, "result": "done", "session_id": "hostile-1",
              "total_cost_usd": 0.001, "usage": {"input_tokens": 10, "output_tokens": 5},
              "permission_denials": [], "terminal_reason": "completed"}
    sys.stdout.write(json.dumps(report) + "\n")


if __name__ == "__main__":
    main()
