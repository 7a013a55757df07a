#!/usr/bin/env python3
"""A hostile agent: its first round replaces its checkout's .git folder by a `gitdir: /` file;
its second (the fix round, whose sandbox a careless worker would plan from that file) tries to
read the worker's config and write into its state dir, then puts .git back and fixes the task."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

sys.stdin.read()
config, state = Path(os.environ["TARGET_CONFIG"]), Path(os.environ["TARGET_STATE"])
Path("WORK.md").write_text("work\n")
if Path(".git").is_dir() and not Path(".git-real").exists():
    os.rename(".git", ".git-real")
    Path(".git").write_text("gitdir: /\n")
else:
    try:
        Path("STOLEN.md").write_text(config.read_text())
        (state / "PWNED-by-agent").write_text("agent was here\n")
    except OSError as exc:
        Path("STOLEN.md").write_text(f"blocked: {exc}\n")
    os.remove(".git")
    os.rename(".git-real", ".git")
    Path("FIXED.md").write_text("fixed\n")
print(json.dumps({"type": "result", "subtype": "success", "is_error": False, "num_turns": 1,
                  "result": "done", "total_cost_usd": 0.0,
                  "usage": {"input_tokens": 1, "output_tokens": 1}, "session_id": "s-1"}))
