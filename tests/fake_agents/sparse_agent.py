#!/usr/bin/env python3
"""A fake agent that looks at the task specs its checkout holds and commits everything it sees.

Writes SEEN.md (one line per file in tasks/ of its working tree) and SEEN-RESULTS.md (the same
for results/), then `git add -A` and
`git commit` (what an agent tidying up does), and prints a Claude-like JSON success report.
The prompt is read from stdin and ignored.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def main() -> None:
    sys.stdin.buffer.read()
    tasks = Path("tasks")
    seen = sorted(p.name for p in tasks.iterdir()) if tasks.is_dir() else []
    Path("SEEN.md").write_text("".join(f"{name}\n" for name in seen))
    results = Path("results")
    found = sorted(p.name for p in results.iterdir()) if results.is_dir() else []
    Path("SEEN-RESULTS.md").write_text("".join(f"{name}\n" for name in found))
    env = {**os.environ, "GIT_AUTHOR_NAME": "Agent", "GIT_AUTHOR_EMAIL": "agent@example.org",
           "GIT_COMMITTER_NAME": "Agent", "GIT_COMMITTER_EMAIL": "agent@example.org"}
    subprocess.run(["git", "add", "-A"], check=True, env=env)
    subprocess.run(["git", "commit", "--quiet", "-m", "agent: everything"], check=True, env=env)
    report = {"type": "result", "subtype": "success", "is_error": False, "duration_ms": 5,
              "num_turns": 1, "result": "done", "session_id": "sparse-1",
              "total_cost_usd": 0.001, "usage": {"input_tokens": 10, "output_tokens": 5},
              "permission_denials": [], "terminal_reason": "completed"}
    sys.stdout.write(json.dumps(report) + "\n")


if __name__ == "__main__":
    main()
