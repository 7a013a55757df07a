"""The demo's agent: a real subprocess that behaves like `claude -p --output-format json`.

It reads the prompt on stdin, appends it to DEMO.md in the working directory (a deterministic
edit; told of a failing `verify:` check, it adds the `Checked:` line the demo's check wants), and
prints one Claude-Code-style JSON result (turns, usage, zero cost). Two switches make
it misbehave like the incident's layers: an unknown option fails as Claude Code does (empty
stdout, exit 1), and DEMO_RATE_LIMIT_ONCE makes the first call answer a 429.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

KNOWN = {"-p", "--print", "--output-format", "json", "--model"}


def main(argv: list[str]) -> int:
    for arg in argv:
        if arg.startswith("-") and arg not in KNOWN:
            print(f"error: unknown option '{arg}'", file=sys.stderr)
            return 1
    prompt = sys.stdin.read()
    time.sleep(float(os.environ.get("DEMO_THINK_SECONDS", "0.3")))  # a model call takes time
    marker = Path(".mtor-demo-called")
    if os.environ.get("DEMO_RATE_LIMIT_ONCE") and not marker.exists():
        marker.write_text("1")
        _report(is_error=True, turns=0, text="API Error: Request rejected (429) · rate limited",
                api_error_status=429)
        return 1
    marker.unlink(missing_ok=True)
    with open("DEMO.md", "a", encoding="utf-8") as handle:
        handle.write(f"## Done by the demo agent\n\n{prompt.strip()}\n\n")
        if "## Verification failed" in prompt:  # a fix round: do what the check asks for
            handle.write("Checked: the demo agent fixed what the check reported.\n\n")
    _report(is_error=False, turns=2, text="Appended the request to DEMO.md.")
    return 0


def _report(*, is_error: bool, turns: int, text: str, api_error_status: int | None = None) -> None:
    usage = {"input_tokens": 120 * turns, "output_tokens": 40 * turns}
    print(json.dumps({
        "type": "result", "subtype": "success" if not is_error else "error_during_execution",
        "is_error": is_error, "num_turns": turns, "duration_ms": 300, "result": text,
        "total_cost_usd": 0.0, "usage": usage, "session_id": "demo-session",
        "permission_denials": [], "api_error_status": api_error_status,
        "terminal_reason": "completed" if not is_error else "api_error",
    }))


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
