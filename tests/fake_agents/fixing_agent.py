#!/usr/bin/env python3
"""A fake agent for verified results: it always writes WORK.md; it writes FIXED.md (what the
task's `verify: test -f FIXED.md` checks) only when its prompt tells it a verification failed,
and only with --fixes (without it, it never manages to fix anything). Prints a Claude-like JSON
success report. Every prompt it received is appended to .fake_agent/prompts.log (uncommitted
would be collected: so outside, in $PROMPT_LOG when set)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def main() -> int:
    prompt = sys.stdin.read()
    log = os.environ.get("PROMPT_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(prompt) + "\n")
    Path("WORK.md").write_text("work\n", encoding="utf-8")
    if "--fixes" in sys.argv and "Verification failed" in prompt:
        Path("FIXED.md").write_text("fixed\n", encoding="utf-8")
    print(json.dumps({"type": "result", "subtype": "success", "is_error": False, "num_turns": 2,
                      "result": "done", "total_cost_usd": 0.001,
                      "usage": {"input_tokens": 10, "output_tokens": 5}, "session_id": "s-1"}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
