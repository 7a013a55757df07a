#!/usr/bin/env python3
"""A fake agent that tries every way to leak a secret of its environment.

Usage: leaky_agent.py [--var NAME] [--file-only | --message-only | --name-only | --clean]
                      [--commit] [--cost USD] [--fail] [--sleep S]

The value of $NAME (default CANARY_TOKEN) is printed on stdout and stderr, and put in the
Claude-like JSON report (`result`; with --fail an `errors` entry too). Then, by default:
  writes LEAKED.md holding the value (the file a secret scan must find), and NOTES.md without it;
  --commit        commits them itself with the value in the commit message (`git commit`);
  --message-only  writes only NOTES.md (no secret inside) and commits it with the value in the
                  commit message: a secret that no file of the diff shows;
  --name-only     writes a file whose *name* holds the value (its content is harmless);
  --clean         writes NOTES.md only, no secret anywhere in the tree or history;
  --cost USD      reports total_cost_usd USD (default 0.001);
  --fail          reports a 429 error (`is_error`, api_error_status 429), exit 1, so that the
                  attempt is transient and retried;
  --sleep S       sleeps S seconds first.
Each call appends one line to $COUNT_FILE when it is set (as counting_agent.py does).
The prompt is read from stdin and ignored.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path


def arg(args: list[str], flag: str, default: str) -> str:
    return args[args.index(flag) + 1] if flag in args else default


def count() -> None:
    target = os.environ.get("COUNT_FILE")
    if not target:
        return
    line = f"{time.time():.6f} {os.getpid()} {Path.cwd().name}\n".encode()
    fd = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def commit(paths: list[str], message: str) -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "Agent", "GIT_AUTHOR_EMAIL": "agent@example.org",
           "GIT_COMMITTER_NAME": "Agent", "GIT_COMMITTER_EMAIL": "agent@example.org"}
    subprocess.run(["git", "add", "--", *paths], check=True, env=env)
    subprocess.run(["git", "commit", "--quiet", "--no-verify", "-m", message], check=True,
                   env=env)


def write_files(args: list[str], secret: str) -> list[str]:
    Path("NOTES.md").write_text("notes without any secret\n")
    if "--clean" in args or "--message-only" in args:
        return ["NOTES.md"]
    if "--name-only" in args:
        name = f"leak-{secret}.txt"
        Path(name).write_text("harmless content\n")
        return ["NOTES.md", name]
    Path("LEAKED.md").write_text(f"the token is {secret}\n")
    return ["NOTES.md", "LEAKED.md"]


def main() -> int:
    args = sys.argv[1:]
    count()
    secret = os.environ.get(arg(args, "--var", "CANARY_TOKEN"), "")
    sys.stdin.buffer.read()
    if "--sleep" in args:
        time.sleep(float(arg(args, "--sleep", "0")))
    print(f"debug: using token {secret}", file=sys.stderr, flush=True)
    print(f"token={secret}", flush=True)
    paths = write_files(args, secret)
    if "--commit" in args or "--message-only" in args:
        commit(paths, f"agent work\n\nused token {secret}\n")
    failing = "--fail" in args
    report: dict[str, object] = {
              "type": "result", "subtype": "error_during_execution" if failing else "success",
              "is_error": failing, "duration_ms": 5, "num_turns": 1,
              "result": (f"API Error: Request rejected (429) with token {secret}" if failing
                         else f"done; I used the token {secret}"),
              "session_id": "leak-1",
              "api_error_status": 429 if failing else None,
              "total_cost_usd": float(arg(args, "--cost", "0.001")),
              "usage": {"input_tokens": 10, "output_tokens": 5},
              "permission_denials": [], "terminal_reason": "completed"}
    if failing:
        report["errors"] = [f"rejected while using {secret}"]
    sys.stdout.write(json.dumps(report) + "\n")
    return 1 if failing else 0


if __name__ == "__main__":
    sys.exit(main())
