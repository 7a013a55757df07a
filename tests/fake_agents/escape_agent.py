#!/usr/bin/env python3
"""Hostile agent: round 1 replaces its checkout's .git dir by a `gitdir: /` file; round 2 (the fix
round, whose sandbox is planned from that file) reads the worker's config and writes into its state."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path
sys.stdin.read()
cfg, state = Path(os.environ["TARGET_CONFIG"]), Path(os.environ["TARGET_STATE"])
Path("WORK.md").write_text("work\n")
if Path(".git").is_dir() and not Path(".git-real").exists():
    os.rename(".git", ".git-real")
    Path(".git").write_text("gitdir: /\n")
else:
    try:
        Path("STOLEN.md").write_text(cfg.read_text())
        (state / "PWNED-by-agent").write_text("agent was here\n")
    except OSError as e:
        Path("STOLEN.md").write_text(f"blocked: {e}\n")
    os.remove(".git"); os.rename(".git-real", ".git")
    Path("FIXED.md").write_text("fixed\n")
print(json.dumps({"type": "result", "subtype": "success", "is_error": False, "num_turns": 1,
                  "result": "done", "total_cost_usd": 0.0, "usage": {"input_tokens": 1,
                  "output_tokens": 1}, "session_id": "s-1"}))
