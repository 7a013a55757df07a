#!/usr/bin/env python3
"""A fake agent that hides a value of its environment in a file, disguised.

Usage: disguising_agent.py --var NAME --form FORM

FORM is one of: plain, base64 (inside a longer base64 text, at byte alignment 1), reversed, hex,
url (every byte percent-encoded), split (the value broken over lines, 4 characters a line).
The value of $NAME, in that form, goes into DISGUISED.txt, and is printed on stdout and stderr
and put in the Claude-like JSON report's `result` (all but `split`: the redactor of output does
not join lines). The prompt is read from stdin and ignored; it exits 0.
"""

from __future__ import annotations

import base64
import json
import os
import sys
from pathlib import Path


def disguise(value: str, form: str) -> str:
    raw = value.encode()
    if form == "plain":
        return value
    if form == "base64":
        return base64.b64encode(b"{" + raw + b"}").decode()
    if form == "reversed":
        return value[::-1]
    if form == "hex":
        return raw.hex()
    if form == "url":
        return "".join(f"%{b:02X}" for b in raw)
    if form == "split":
        return "\n".join(value[i:i + 4] for i in range(0, len(value), 4))
    raise SystemExit(f"unknown form {form!r}")


def main() -> int:
    args = sys.argv[1:]
    name = args[args.index("--var") + 1]
    form = args[args.index("--form") + 1]
    sys.stdin.buffer.read()
    shown = disguise(os.environ.get(name, ""), form)
    Path("DISGUISED.txt").write_text(f"payload:\n{shown}\n")
    printed = shown if form != "split" else "(written over lines)"
    print(f"debug: {printed}", file=sys.stderr, flush=True)
    report = {"type": "result", "subtype": "success", "is_error": False, "duration_ms": 5,
              "num_turns": 1, "result": f"done: {printed}", "session_id": "disguise-1",
              "total_cost_usd": 0.001, "usage": {"input_tokens": 10, "output_tokens": 5},
              "permission_denials": [], "terminal_reason": "completed"}
    print(printed, flush=True)
    sys.stdout.write(json.dumps(report) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
