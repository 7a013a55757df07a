#!/usr/bin/env python3
"""A fake agent whose output holds terminal escape sequences.

Usage: escaping_agent.py

Prints on stderr a screen clear (`ESC[2J`), an OSC window-title sequence (`ESC]0;pwned BEL`), a
carriage return, a C1 CSI (U+009B) and a DEL, then a Claude-like JSON success report whose
`result` holds the same; writes ESCAPES.md. The prompt is read from stdin and ignored; exit 0.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HOSTILE = "clear\x1b[2J title\x1b]0;pwned\x07 cr\rover c1\x9b31m del\x7f end"


def main() -> int:
    sys.stdin.buffer.read()
    sys.stderr.write(f"progress: {HOSTILE}\n")
    sys.stderr.flush()
    Path("ESCAPES.md").write_text("an edit\n")
    report = {"type": "result", "subtype": "success", "is_error": False, "duration_ms": 5,
              "num_turns": 1, "result": f"done: {HOSTILE}", "session_id": "esc-1",
              "total_cost_usd": 0.001, "usage": {"input_tokens": 10, "output_tokens": 5},
              "permission_denials": [], "terminal_reason": "completed"}
    sys.stdout.write(json.dumps(report) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
