#!/usr/bin/env python3
"""A fake agent that counts its invocations across every worktree and every worker process.

Usage: counting_agent.py [--sleep S] [--hang] [--hang-first] [--commit] [--clean]

Each call appends one line `<unix time> <pid> <worktree dir name>` to the file named by
$COUNT_FILE (O_APPEND: one write per line, so concurrent agents never interleave), then:
  default   writes AGENT_EDIT.md (its content names the task's worktree) and prints a Claude-like
            JSON success report (num_turns 1, a small cost), exit 0;
  --sleep S sleeps S seconds first (a model call that takes time);
  --hang    sleeps an hour (for cancel, kill -9 and SIGTERM tests);
  --hang-first  hangs only on the first call in a worktree of that name (the second, after a
            crash or an interruption, succeeds);
  --commit  also commits its edit itself with `git commit` (the agent's own commit), then writes
            AGENT_AFTER.md uncommitted (not with --clean: then the worktree is left clean).
The prompt is read from stdin and ignored.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path


def count() -> int:
    """Record this call; the number of earlier calls in a worktree of the same name."""
    target = os.environ.get("COUNT_FILE")
    if not target:
        return 0
    try:
        earlier = [ln.split()[2] for ln in Path(target).read_text().splitlines() if ln]
    except FileNotFoundError:
        earlier = []
    line = f"{time.time():.6f} {os.getpid()} {Path.cwd().name}\n".encode()
    fd = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)
    return earlier.count(Path.cwd().name)


def own_commit(clean: bool) -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "Agent", "GIT_AUTHOR_EMAIL": "agent@example.org",
           "GIT_COMMITTER_NAME": "Agent", "GIT_COMMITTER_EMAIL": "agent@example.org"}
    subprocess.run(["git", "add", "AGENT_EDIT.md"], check=True, env=env)
    subprocess.run(["git", "commit", "--quiet", "-m", "agent: its own commit"], check=True,
                   env=env)
    if not clean:
        Path("AGENT_AFTER.md").write_text("left uncommitted by the agent\n")


def main() -> None:
    earlier = count()
    args = sys.argv[1:]
    sys.stdin.buffer.read()
    if "--sleep" in args:
        time.sleep(float(args[args.index("--sleep") + 1]))
    if "--hang" in args or ("--hang-first" in args and earlier == 0):
        time.sleep(3600)
    Path("AGENT_EDIT.md").write_text(f"edited by counting_agent in {Path.cwd().name}\n")
    if "--commit" in args:
        own_commit("--clean" in args)
    report = {"type": "result", "subtype": "success", "is_error": False, "duration_ms": 5,
              "num_turns": 1, "result": "done", "session_id": "count-1",
              "total_cost_usd": 0.001, "usage": {"input_tokens": 10, "output_tokens": 5},
              "permission_denials": [], "terminal_reason": "completed"}
    sys.stdout.write(json.dumps(report) + "\n")


if __name__ == "__main__":
    main()
