#!/usr/bin/env python3
"""A fake Claude Code CLI that speaks `--output-format stream-json` slowly, turn by turn.

Usage: stream_agent.py [--turns N] [--delay S] [--cost USD]
Reads the prompt on stdin, then prints (flushed, one line each) a `system`/`init` event, and for
each of N turns an `assistant` message with usage (100 input and 40 output tokens) and a tool_use
`Edit` of `step<i>.txt` (which it writes), then sleeps S seconds; finally a `result` line with
num_turns N and total_cost_usd, exit 0.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def emit(obj: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def main() -> None:
    args = sys.argv[1:]
    opts = {args[i]: args[i + 1] for i in range(0, len(args) - 1, 2)}
    turns, delay = int(opts.get("--turns", "3")), float(opts.get("--delay", "1"))
    cost = float(opts.get("--cost", "0.05"))
    sys.stdin.read()
    session = "stream-session-1"
    emit({"type": "system", "subtype": "init", "session_id": session,
          "model": "claude-sonnet-4-5", "tools": ["Edit"]})
    for i in range(1, turns + 1):
        Path(f"step{i}.txt").write_text(f"turn {i}\n")
        emit({"type": "assistant", "session_id": session, "message": {
            "id": f"msg_{i}", "model": "claude-sonnet-4-5", "role": "assistant",
            "content": [{"type": "tool_use", "id": f"tu_{i}", "name": "Edit",
                         "input": {"file_path": f"step{i}.txt"}}],
            "usage": {"input_tokens": 100, "output_tokens": 40}}})
        emit({"type": "user", "session_id": session, "message": {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": f"tu_{i}", "content": "ok"}]}})
        time.sleep(delay)
    emit({"type": "result", "subtype": "success", "is_error": False, "num_turns": turns,
          "result": "done", "session_id": session, "total_cost_usd": cost,
          "usage": {"input_tokens": 100 * turns, "output_tokens": 40 * turns}})


if __name__ == "__main__":
    main()
