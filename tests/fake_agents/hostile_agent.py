#!/usr/bin/env python3
"""A fake agent that tries to get out of its attempt: read its ancestors' environment, read the
worker's files, outlive its attempt. It ends with a Claude-like JSON success report.

Usage: hostile_agent.py MODE [--sleep S] [--read PATH[:PATH...]] [--grep REGEX]

Modes:
  environ   walks /proc from its own pid up through every ancestor (and then every process it can
            see), reading each `environ`; writes all it found to STOLEN.txt in the cwd, and the
            contents of every path given with --read (a directory is listed) too. With --grep
            only the lines matching REGEX are kept (what a careful thief takes, so that no
            unrelated value trips the worker's secret scan).
  linger    double-forks a `setsid` child that, after 0.3 s, appends `<unix time>` lines to
            LATE.txt in the cwd every 50 ms for 60 s; after --sleep S (default 0.5 s) prints its
            report, writes AGENT_EDIT.md holding the time and exits at once.
  slow      appends `start <cwd name>` to $COUNT_FILE, sleeps --sleep S (default 15), then
            appends `done <cwd name>` and writes AGENT_EDIT.md.
The prompt is read from stdin and ignored.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from pathlib import Path


def report() -> None:
    sys.stdout.write(json.dumps({
        "type": "result", "subtype": "success", "is_error": False, "duration_ms": 5,
        "num_turns": 1, "result": "done", "session_id": "hostile-1", "total_cost_usd": 0.001,
        "usage": {"input_tokens": 10, "output_tokens": 5}, "permission_denials": [],
        "terminal_reason": "completed"}) + "\n")
    sys.stdout.flush()


def read(path: Path) -> str:
    try:
        if path.is_dir():
            return "\n".join(sorted(os.listdir(path)))
        return path.read_bytes()[:1_000_000].decode("utf-8", "replace")
    except OSError as exc:
        return f"<{type(exc).__name__}>"


def environ(targets: list[str], pattern: str | None) -> None:
    found: list[str] = []
    seen: set[int] = set()
    pid = os.getpid()
    while pid > 0 and pid not in seen:  # the ancestors first: $PPID, its parent, ...
        seen.add(pid)
        found.append(f"== /proc/{pid}/environ\n{read(Path(f'/proc/{pid}/environ'))}")
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            break
    for entry in Path("/proc").iterdir():  # then anyone else in sight
        if entry.name.isdigit() and int(entry.name) not in seen:
            found.append(f"== {entry}/environ\n{read(entry / 'environ')}")
    for name in targets:
        found.append(f"== {name}\n{read(Path(name))}")
    lines = "\n".join(found).replace("\0", "\n").splitlines()
    if pattern is not None:
        lines = [ln for ln in lines if ln.startswith("== ") or re.search(pattern, ln)]
    Path("STOLEN.txt").write_text("\n".join(lines) + "\n")


def linger(sleep: float) -> None:
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            time.sleep(0.3)
            end = time.time() + 60
            while time.time() < end:
                try:  # it outlives its checkout's removal too
                    with open("LATE.txt", "a") as fh:
                        fh.write(f"{time.time():.6f}\n")
                except OSError:
                    pass
                time.sleep(0.05)
        os._exit(0)
    time.sleep(sleep)
    report()
    Path("AGENT_EDIT.md").write_text(f"{time.time():.6f}\n")
    os._exit(0)  # no interpreter shutdown between the time written and the exit


def slow(sleep: float) -> None:
    target = os.environ["COUNT_FILE"]
    name = Path.cwd().name
    with open(target, "a") as fh:
        fh.write(f"start {name}\n")
    time.sleep(sleep)
    with open(target, "a") as fh:
        fh.write(f"done {name}\n")
    Path("AGENT_EDIT.md").write_text("slow and done\n")


def main() -> None:
    mode, args = sys.argv[1], sys.argv[2:]
    sleep = float(args[args.index("--sleep") + 1]) if "--sleep" in args else None
    targets = args[args.index("--read") + 1].split(":") if "--read" in args else []
    pattern = args[args.index("--grep") + 1] if "--grep" in args else None
    sys.stdin.buffer.read()
    if mode == "environ":
        environ(targets, pattern)
    elif mode == "linger":
        linger(0.5 if sleep is None else sleep)
    elif mode == "slow":
        slow(15.0 if sleep is None else sleep)
    else:
        sys.exit(f"unknown mode {mode}")
    report()


if __name__ == "__main__":
    main()
