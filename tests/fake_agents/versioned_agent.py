#!/usr/bin/env python3
"""fake_agent.py behind a real CLI's `--version`: `versioned_agent.py --version` prints a version
line and exits 0 (as `claude --version` does); any other call runs fake_agent.py with the same
arguments (`versioned_agent.py MODE [OPTIONS]`, modes in fake_agent.py's docstring).

With FAKE_AGENT_CALLS=<file> in its environment, every agent call (not `--version`) appends one
line to that file, so a bench can count attempts from outside the worktrees.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

FAKE_AGENT = Path(__file__).resolve().parent / "fake_agent.py"

if __name__ == "__main__":
    if sys.argv[1:] == ["--version"]:
        print("1.0.0 (fake agent for mtor-git tests)")
        sys.exit(0)
    calls = os.environ.get("FAKE_AGENT_CALLS")
    if calls:
        with open(calls, "a", encoding="utf-8") as fh:
            fh.write(" ".join(sys.argv[1:2]) + "\n")
    os.execv(sys.executable, [sys.executable, str(FAKE_AGENT), *sys.argv[1:]])
